import Anvert
import AnvertDemoCore
import SwiftUI

/// The body (fetched when opened, only the readable part) and the attachments.
struct MessageView: View {
    let repo: MailRepository
    let id: Int64
    @State private var opened: Result<OpenedMessage, Error>?

    var body: some View {
        Group {
            switch opened {
            case nil:
                ProgressView()
            case .failure(let error):
                Text(error.userMessage).foregroundStyle(.red)
            case .success(let message):
                ScrollView {
                    VStack(alignment: .leading, spacing: 12) {
                        Text(message.detail.summary.from.map { a in a.name.map { "\($0) <\(a.email)>" } ?? a.email }.joined(separator: ", "))
                            .font(.subheadline)
                        if let text = message.body.text {
                            Text(text).textSelection(.enabled)
                        } else if let html = message.body.html,
                                  let attributed = try? AttributedString(
                                      NSAttributedString(data: Data(html.utf8), options: [.documentType: NSAttributedString.DocumentType.html], documentAttributes: nil)
                                  ) {
                            Text(attributed)
                        }
                        ForEach(message.detail.parts.filter(\.isAttachment), id: \.section) { part in
                            Divider()
                            AttachmentRow(download: repo.download(message: id, section: part.section), part: part)
                        }
                    }
                    .padding()
                }
                .navigationTitle(message.detail.summary.subject)
                .toolbar {
                    NavigationLink("Forward") { ComposeView(repo: repo, forwardOf: id) }
                }
            }
        }
        .navigationBarTitleDisplayMode(.inline)
        .task {
            do {
                opened = .success(try await repo.open(id))
            } catch {
                opened = .failure(error)
            }
        }
    }
}

/// Download with a progress bar, cancel and resume (a partial download continues where it stopped).
private struct AttachmentRow: View {
    @StateObject var download: PartDownload
    let part: Part

    init(download: @autoclosure @escaping () -> PartDownload, part: Part) {
        _download = StateObject(wrappedValue: download())
        self.part = part
    }

    var body: some View {
        VStack(alignment: .leading) {
            Text("\(part.filename ?? part.mimeType) · \(ByteCountFormatter.string(fromByteCount: Int64(part.size), countStyle: .file))")
            HStack {
                switch download.state {
                case .idle:
                    Button(part.downloadState == .partial ? "Resume" : "Download") { download.start() }
                case .running:
                    ProgressView(value: download.state.fraction)
                    Button("Cancel", role: .cancel) { download.cancel() }
                case .cancelled:
                    ProgressView(value: download.state.fraction)
                    Button("Resume") { download.start() }
                case .failed(let message):
                    Text(message).foregroundStyle(.red)
                    Button("Retry") { download.start() }
                case .done(let path):
                    ShareLink(item: URL(fileURLWithPath: path)) { Label("Open", systemImage: "square.and.arrow.up") }
                }
            }
            .buttonStyle(.bordered)
        }
    }
}
