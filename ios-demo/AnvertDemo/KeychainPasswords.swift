import AnvertDemoCore
import Foundation
import Security

/// Passwords in the Keychain (generic passwords, this device only, available after the first
/// unlock so that background refresh can read them).
struct KeychainPasswords: PasswordStore {
    private let service = "dev.anvert.demo.account"

    private func query(_ account: Int64) -> [String: Any] {
        [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: String(account),
        ]
    }

    func put(_ password: String, account: Int64) throws {
        SecItemDelete(query(account) as CFDictionary)
        var item = query(account)
        item[kSecValueData as String] = Data(password.utf8)
        item[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        let status = SecItemAdd(item as CFDictionary, nil)
        guard status == errSecSuccess else { throw NSError(domain: NSOSStatusErrorDomain, code: Int(status)) }
    }

    func get(account: Int64) -> String? {
        var item = query(account)
        item[kSecReturnData as String] = true
        item[kSecMatchLimit as String] = kSecMatchLimitOne
        var result: CFTypeRef?
        guard SecItemCopyMatching(item as CFDictionary, &result) == errSecSuccess, let data = result as? Data else { return nil }
        return String(data: data, encoding: .utf8)
    }

    func remove(account: Int64) {
        SecItemDelete(query(account) as CFDictionary)
    }
}
