import AnvertDemoCore
import SwiftUI

/// The engine's byte ledger: wire bytes by network kind and purpose.
struct UsageView: View {
    @ObservedObject var repo: MailRepository

    var body: some View {
        List {
            ForEach(repo.usage.byNetwork, id: \.network) { group in
                Section(group.network) {
                    ForEach(group.rows, id: \.purpose) { row in
                        HStack {
                            Text(row.purpose.replacingOccurrences(of: "_", with: " "))
                            Spacer()
                            Text("↓ \(size(row.bytesDown))  ↑ \(size(row.bytesUp))").monospacedDigit().foregroundStyle(.secondary)
                        }
                    }
                }
            }
        }
        .navigationTitle("Data usage · \(size(repo.usage.totalBytes))")
        .task { await repo.refreshUsage() }
    }

    private func size(_ bytes: UInt64) -> String {
        ByteCountFormatter.string(fromByteCount: Int64(bytes), countStyle: .file)
    }
}
