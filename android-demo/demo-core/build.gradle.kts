// The app logic shared by the screens, with no Android dependency: the app uses it
// unchanged, and scripts/kotlin-test.sh compiles it with kotlinc and runs its tests on the
// host JVM against a private Dovecot.
plugins {
    alias(libs.plugins.kotlin.jvm)
}

java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

kotlin {
    compilerOptions { jvmTarget.set(org.jetbrains.kotlin.gradle.dsl.JvmTarget.JVM_17) }
}

dependencies {
    api(project(":anvert-bindings"))
    api(libs.kotlinx.coroutines.core)
    compileOnly(libs.jna)

    testImplementation(libs.jna)
    testImplementation(libs.junit)
    testImplementation(libs.kotlin.test.junit)
}

tasks.test {
    // The tests need the host library and the dev server's ANVERT_* variables:
    // scripts/kotlin-test.sh provides both (it is what CI runs). From Gradle, build the host
    // library first (scripts/gen-bindings.sh --debug) and export the variables that
    // `anvert-devserver --env-file` writes.
    systemProperty("jna.library.path", rootDir.resolve("../target/debug").absolutePath)
}
