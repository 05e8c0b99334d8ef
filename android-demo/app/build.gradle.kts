plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
    alias(libs.plugins.kotlin.compose)
}

android {
    namespace = "dev.anvert.demo.app"
    compileSdk = 35

    defaultConfig {
        applicationId = "dev.anvert.demo"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1"
        // The ABIs scripts/android-build.sh builds (devices and the x86_64 emulator).
        ndk { abiFilters += listOf("arm64-v8a", "x86_64") }
    }

    // libanvert_ffi.so per ABI, copied here by scripts/android-build.sh (cargo-ndk).
    sourceSets["main"].jniLibs.srcDir("src/main/jniLibs")

    buildTypes {
        debug {
            // Trying the app against anvert-devserver: ./gradlew installDebug -PanvertDevCa=<its ca.pem>
            // adds that test CA to the engine's roots (debug builds only; certificates are always verified).
            val ca = providers.gradleProperty("anvertDevCa").map { file(it).readText() }.orNull
            buildConfigField("String", "EXTRA_CA_PEM", ca?.let { "\"" + it.replace("\n", "\\n") + "\"" } ?: "null")
        }
        release {
            buildConfigField("String", "EXTRA_CA_PEM", "null")
            isMinifyEnabled = true
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions { jvmTarget = "17" }
    buildFeatures {
        compose = true
        buildConfig = true
    }
}

dependencies {
    implementation(project(":demo-core"))
    // JNA for Android: the AAR carries libjnidispatch.so for every ABI.
    implementation("net.java.dev.jna:jna:${libs.versions.jna.get()}@aar")
    implementation(libs.kotlinx.coroutines.android)

    implementation(platform(libs.compose.bom))
    implementation(libs.compose.ui)
    implementation(libs.compose.material3)
    implementation(libs.compose.ui.tooling.preview)
    debugImplementation(libs.compose.ui.tooling)
    implementation(libs.activity.compose)
    implementation(libs.navigation.compose)
    implementation(libs.lifecycle.runtime.compose)
    implementation(libs.lifecycle.process)
    implementation(libs.work.runtime.ktx)
}
