pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "anvert-demo"
// :anvert-bindings  the generated Kotlin (scripts/android-build.sh writes it there)
// :demo-core        the app logic, plain Kotlin, also compiled and tested by scripts/kotlin-test.sh
// :app              the Compose app; the .so files come into app/src/main/jniLibs
include(":anvert-bindings", ":demo-core", ":app")
