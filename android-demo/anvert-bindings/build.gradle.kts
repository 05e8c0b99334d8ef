// The generated Kotlin bindings (package dev.anvert), as a plain JVM library. Its source
// directory is where scripts/android-build.sh copies target/bindings/kotlin (generated, not
// committed: run the script first).
plugins {
    alias(libs.plugins.kotlin.jvm)
}

java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

kotlin {
    compilerOptions { jvmTarget.set(org.jetbrains.kotlin.gradle.dsl.JvmTarget.JVM_17) }
    sourceSets["main"].kotlin.srcDir("src/main/kotlin")
}

dependencies {
    // The JVM jar to compile against; the app ships JNA's Android AAR (with its native
    // dispatch library) instead, so the jar is not passed on.
    compileOnly(libs.jna)
    api(libs.kotlinx.coroutines.core)
}
