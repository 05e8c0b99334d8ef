import Anvert
import AnvertDemoCore
import SwiftUI

struct FoldersView: View {
    @ObservedObject var repo: MailRepository

    var body: some View {
        List {
            if case .failed(let message, _) = repo.syncState {
                Text(message).foregroundStyle(.red)
            }
            ForEach(repo.folders.folders, id: \.id) { folder in
                NavigationLink {
                    MessagesView(repo: repo, folder: folder)
                } label: {
                    HStack {
                        VStack(alignment: .leading) {
                            Text(folder.name)
                            Text("\(folder.total) messages").font(.caption).foregroundStyle(.secondary)
                        }
                        Spacer()
                        if folder.unread > 0 {
                            Text("\(folder.unread)").font(.caption.bold()).padding(.horizontal, 8).padding(.vertical, 2)
                                .background(Capsule().fill(.tint)).foregroundStyle(.white)
                        }
                    }
                }
            }
        }
        .navigationTitle("Folders")
        .toolbar {
            ToolbarItem(placement: .topBarLeading) {
                NavigationLink("Usage") { UsageView(repo: repo) }
            }
            ToolbarItem(placement: .topBarTrailing) {
                if repo.syncState == .running { ProgressView() }
            }
            ToolbarItem(placement: .bottomBar) {
                NavigationLink("Outbox") { OutboxView(repo: repo) }
            }
            ToolbarItem(placement: .bottomBar) {
                NavigationLink("Write") { ComposeView(repo: repo, forwardOf: nil) }
            }
        }
        .refreshable { await repo.sync() }
        .task { if repo.syncState == .idle { await repo.sync() } }
    }
}

/// The list fills in as the engine commits each window of headers (from its listener).
struct MessagesView: View {
    @ObservedObject var repo: MailRepository
    let folder: Folder
    @State private var list: MessageList?

    var body: some View {
        Group {
            if let list {
                MessageListContent(repo: repo, list: list)
            } else {
                ProgressView()
            }
        }
        .navigationTitle(folder.name)
        .task {
            if list == nil { list = try? repo.messageList(folder: folder.id) }
        }
        .onDisappear { list?.close(); list = nil }
    }
}

private struct MessageListContent: View {
    let repo: MailRepository
    @ObservedObject var list: MessageList

    var body: some View {
        List {
            if let progress = list.state.progress {
                ProgressView(value: Double(progress.synced), total: Double(progress.total))
            }
            ForEach(list.state.messages, id: \.id) { message in
                NavigationLink {
                    MessageView(repo: repo, id: message.id)
                } label: {
                    MessageRow(message: message)
                }
            }
            if !list.state.messages.isEmpty {
                Button("Show more") { list.showMore() }
            }
        }
        .listStyle(.plain)
        .overlay { if !list.state.loaded { ProgressView() } }
    }
}

private struct MessageRow: View {
    let message: MessageSummary

    var body: some View {
        VStack(alignment: .leading, spacing: 2) {
            HStack {
                Text(message.from.first.map { $0.name ?? $0.email } ?? "").font(.subheadline).lineLimit(1)
                Spacer()
                Text(Date(timeIntervalSince1970: TimeInterval(message.internalDate)), style: .relative).font(.caption).foregroundStyle(.secondary)
            }
            HStack(spacing: 4) {
                if message.hasAttachments { Image(systemName: "paperclip") }
                Text(message.subject.isEmpty ? "(no subject)" : message.subject)
                    .fontWeight(message.flags.seen ? .regular : .bold).lineLimit(1)
            }
            if let preview = message.preview {
                Text(preview).font(.caption).foregroundStyle(.secondary).lineLimit(2)
            }
        }
    }
}
