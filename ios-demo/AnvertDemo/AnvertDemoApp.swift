import AnvertDemoCore
import BackgroundTasks
import SwiftUI

@main
struct AnvertDemoApp: App {
    @StateObject private var model = AppModel()
    @Environment(\.scenePhase) private var scenePhase

    init() {
        // Must be registered before the app finishes launching.
        BGTaskScheduler.shared.register(forTaskWithIdentifier: AppModel.refreshTask, using: nil) { task in
            AppModel.handleRefresh(task as! BGAppRefreshTask)
        }
    }

    var body: some Scene {
        WindowGroup {
            RootView().environmentObject(model)
        }
        .onChange(of: scenePhase) { phase in
            switch phase {
            case .active:
                model.enterForeground()   // push (IDLE) only while the app is active
            case .background:
                model.enterBackground()   // stop push, schedule the next BGAppRefreshTask
            default:
                break
            }
        }
    }
}

struct RootView: View {
    @EnvironmentObject var model: AppModel

    var body: some View {
        NavigationStack {
            if !model.ready {
                ProgressView()
            } else if let repo = model.repository {
                FoldersView(repo: repo)
            } else {
                AccountSetupView()
            }
        }
        .task { await model.start() }
    }
}
