{
  "targets": [
    {
      "target_name": "kernkit",
      # Every csrc/*.cc is part of the addon; subsystems register themselves (see csrc/addon.h).
      "sources": [
        "<!@(node -p \"require('fs').readdirSync('csrc').filter(f => f.endsWith('.cc')).sort().map(f => 'csrc/' + f).join(' ')\")"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NAPI_CPP_EXCEPTIONS",
        # A native error raised while a worker is being torn down cannot be thrown into
        # JavaScript any more: drop it instead of aborting the process (std::terminate).
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        # Any C++ exception (bad_alloc, system_error) becomes a JavaScript error, not an abort.
        "NODE_ADDON_API_CPP_EXCEPTIONS_ALL",
        "_GNU_SOURCE"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++20", "-fexceptions", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lpthread"]
    }
  ]
}
