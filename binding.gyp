{
  "targets": [
    {
      "target_name": "xai3d_native",
      "sources": ["native/kernels.cc"],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-exceptions", "-ffp-contract=off"],
      "cflags_cc!": ["-fno-rtti"],
      "ldflags": ["-pthread"]
    }
  ]
}
