// Account setup as the form has it, and the one rule about passwords: the engine holds them
// in memory only; the app keeps them in the Keychain and hands them over after every start.
import Anvert

/// Secure storage for passwords: the Keychain. Never UserDefaults.
public protocol PasswordStore: Sendable {
    func put(_ password: String, account: Int64) throws
    func get(account: Int64) -> String?
    func remove(account: Int64)
}

/// The account setup screen's fields. An empty port means the protocol's standard port.
public struct AccountForm: Equatable, Sendable {
    public var name = ""
    public var accountProtocol: AccountProtocol = .auto
    public var host = ""
    public var port = ""
    public var security: Security = .tls
    public var username = ""
    public var password = ""

    public init() {}

    /// What to fix before the form can be submitted; empty when it is complete.
    public var problems: [String] {
        var out: [String] = []
        if host.trimmingCharacters(in: .whitespaces).isEmpty { out.append("server is missing") }
        let trimmedPort = port.trimmingCharacters(in: .whitespaces)
        if !trimmedPort.isEmpty, UInt16(trimmedPort).map({ $0 > 0 }) != true { out.append("port must be 1 to 65535") }
        if username.trimmingCharacters(in: .whitespaces).isEmpty { out.append("user is missing") }
        if password.isEmpty { out.append("password is missing") }
        return out
    }

    public var setup: AccountSetup {
        let user = username.trimmingCharacters(in: .whitespaces)
        return AccountSetup(
            name: name.isEmpty ? user : name,
            protocol: accountProtocol,
            host: host.trimmingCharacters(in: .whitespaces),
            port: UInt16(port.trimmingCharacters(in: .whitespaces)),
            security: security,
            username: user
        )
    }
}

public struct Accounts: Sendable {
    let engine: Engine
    let passwords: PasswordStore

    public init(engine: Engine, passwords: PasswordStore) {
        self.engine = engine
        self.passwords = passwords
    }

    /// Adds the account and keeps its password; `.auto` probes IMAP, then POP3.
    public func add(_ form: AccountForm) async throws -> Account {
        precondition(form.problems.isEmpty, form.problems.joined(separator: ", "))
        let account = try await engine.addAccount(setup: form.setup, password: form.password)
        try passwords.put(form.password, account: account.id)
        return account
    }

    /// After a start: the stored accounts, each handed its password from the Keychain.
    @discardableResult
    public func restore() async throws -> [Account] {
        let accounts = try await engine.accounts()
        for account in accounts {
            if let password = passwords.get(account: account.id) {
                try await engine.updatePassword(account: account.id, password: password)
            }
        }
        return accounts
    }

    public func remove(_ account: Int64) async throws {
        try await engine.removeAccount(account: account)
        passwords.remove(account: account)
    }
}

extension Error {
    /// Words for the user; `.Auth` is the one that sends them back to the account screen.
    public var userMessage: String {
        guard let error = self as? AnvertError else { return localizedDescription }
        switch error {
        case .Auth: return "The server rejected the user name or password."
        case .Network(let reason): return "No connection to the server (\(reason))."
        case .Tls(let reason): return "The server's certificate is not trusted (\(reason))."
        case .Server(let text): return "The server said: \(text)"
        case .Storage(let reason): return "Storage problem: \(reason)"
        case .Cancelled: return "Cancelled."
        case .NotFound: return "It is no longer there."
        case .Protocol(let reason), .Other(let reason): return reason
        case .BudgetExhausted: return "Stopped for now; the next sync continues."
        case .MessageTooLarge(let size, let limit): return "The message is too large for the server (\(size) bytes; it takes \(limit))."
        case .SmtpRejected(_, let code, _, let text, _): return "The mail server refused it: \(code) \(text)"
        @unknown default: return "\(error)"
        }
    }
}
