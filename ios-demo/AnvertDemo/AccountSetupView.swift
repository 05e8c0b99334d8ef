import Anvert
import AnvertDemoCore
import SwiftUI

/// IMAP / POP3 / auto, server, port, security, user, password; verified by a first sync.
struct AccountSetupView: View {
    @EnvironmentObject var model: AppModel
    @State private var form = AccountForm()
    @State private var busy = false
    @State private var error: String?

    var body: some View {
        Form {
            Picker("Protocol", selection: $form.accountProtocol) {
                Text("Auto").tag(AccountProtocol.auto)
                Text("IMAP").tag(AccountProtocol.imap)
                Text("POP3").tag(AccountProtocol.pop3)
            }
            .pickerStyle(.segmented)
            Section("Server") {
                TextField("Server", text: $form.host).textContentType(.URL).autocorrectionDisabled().textInputAutocapitalization(.never)
                TextField("Port (empty: standard)", text: $form.port).keyboardType(.numberPad)
                Picker("Security", selection: $form.security) {
                    Text("TLS").tag(Security.tls)
                    Text("STARTTLS").tag(Security.startTls)
                    Text("None").tag(Security.dangerPlaintext)
                }
            }
            Section("Account") {
                TextField("User", text: $form.username).textContentType(.username).autocorrectionDisabled().textInputAutocapitalization(.never)
                SecureField("Password", text: $form.password).textContentType(.password)
            }
            if let error { Text(error).foregroundStyle(.red) }
            Button(busy ? "Checking…" : "Add account") { submit() }
                .disabled(busy || !form.problems.isEmpty)
        }
        .navigationTitle("Add an account")
    }

    private func submit() {
        busy = true
        error = nil
        Task {
            do {
                try await model.add(form)
            } catch {
                self.error = error.userMessage
            }
            busy = false
        }
    }
}
