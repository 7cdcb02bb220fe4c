// The corpus replay for the normal (g++) build: feeds every file under the
// given directories (or the given files) to LLVMFuzzerTestOneInput, so the
// checked-in corpora and crash reproducers run in every ctest. Fails if it
// finds no input at all: a replay of nothing proves nothing.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "common/files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    if (std::filesystem::is_directory(arg)) {
      for (const auto& entry : std::filesystem::recursive_directory_iterator(arg)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
    } else {
      files.push_back(arg);
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "replay: no corpus files given\n");
    return 1;
  }
  for (const auto& file : files) {
    const absl::StatusOr<std::string> bytes = relayscope::ReadFileToString(file.string());
    if (!bytes.ok()) {
      std::fprintf(stderr, "replay: %s\n", std::string(bytes.status().message()).c_str());
      return 1;
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size());
  }
  std::printf("replay: %zu inputs, no invariant failed\n", files.size());
  return 0;
}
