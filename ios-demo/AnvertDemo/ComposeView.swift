import Anvert
import AnvertDemoCore
import SwiftUI
import UniformTypeIdentifiers

/// A new message (to, cc, bcc, subject, text, attachments), or with `forwardOf` a forward
/// of that message (to, text, its attachments taken from the server). Sending queues at
/// once; the outbox shows how it went.
struct ComposeView: View {
    let repo: MailRepository
    let forwardOf: Int64?
    @Environment(\.dismiss) private var dismiss
    @State private var outbox: Outbox?
    @State private var form = ComposeForm()
    @State private var withAttachments = true
    @State private var picking = false
    @State private var error: String?

    var body: some View {
        Form {
            TextField("To", text: $form.to).textInputAutocapitalization(.never).keyboardType(.emailAddress)
            if forwardOf == nil {
                TextField("Cc", text: $form.cc).textInputAutocapitalization(.never)
                TextField("Bcc", text: $form.bcc).textInputAutocapitalization(.never)
                TextField("Subject", text: $form.subject)
            }
            TextEditor(text: $form.text).frame(minHeight: 160)
            if forwardOf == nil {
                ForEach(form.attachments, id: \.name) { a in Text("📎 \(a.name) (\(a.bytes.count) bytes)") }
                Button("Attach") { picking = true }
            } else {
                Toggle("Include the attachments (sent from the server)", isOn: $withAttachments)
            }
            ForEach((forwardOf == nil && !form.to.isEmpty ? form.problems : []) + [error].compactMap { $0 }, id: \.self) {
                Text($0).foregroundStyle(.red)
            }
        }
        .navigationTitle(forwardOf == nil ? "New message" : "Forward")
        .toolbar {
            Button("Send") { Task { await send() } }
                .disabled(outbox == nil || (forwardOf == nil ? !form.problems.isEmpty : addresses(form.to).isEmpty))
        }
        .fileImporter(isPresented: $picking, allowedContentTypes: [.item]) { result in
            guard case .success(let url) = result, url.startAccessingSecurityScopedResource() else { return }
            defer { url.stopAccessingSecurityScopedResource() }
            if let data = try? Data(contentsOf: url) {
                let type = UTType(filenameExtension: url.pathExtension)?.preferredMIMEType ?? "application/octet-stream"
                form.attachments.append(DraftAttachment(name: url.lastPathComponent, mimeType: type, bytes: data))
            }
        }
        .task { outbox = try? await repo.outbox() }
    }

    private func send() async {
        guard let outbox else { return }
        do {
            if let forwardOf {
                try await outbox.forward(message: forwardOf, to: form.to, text: form.text, includeAttachments: withAttachments)
            } else {
                try await outbox.send(form)
            }
            dismiss()
        } catch {
            self.error = error.userMessage
        }
    }
}

/// The outbox: each entry's status, refused recipients, "send now" and remove.
struct OutboxView: View {
    let repo: MailRepository
    @State private var outbox: Outbox?

    var body: some View {
        Group {
            if let outbox { OutboxList(outbox: outbox) } else { ProgressView() }
        }
        .navigationTitle("Outbox")
        .task { outbox = try? await repo.outbox() }
    }
}

private struct OutboxList: View {
    @ObservedObject var outbox: Outbox

    var body: some View {
        List {
            if let error = outbox.error { Text(error).foregroundStyle(.red) }
            ForEach(outbox.rows) { row in
                VStack(alignment: .leading) {
                    Text(row.subject)
                    Text(row.status).font(.caption).foregroundStyle(.secondary)
                    ForEach(row.failures, id: \.self) { Text($0).font(.caption).foregroundStyle(.red) }
                }
                .swipeActions {
                    if row.canCancel { Button("Remove", role: .destructive) { Task { _ = await outbox.cancel(row.id) } } }
                }
            }
        }
        .toolbar { Button("Send now") { Task { await outbox.sendNow() } } }
        .refreshable { await outbox.sendNow() }
    }
}
