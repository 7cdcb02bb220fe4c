#include "relayscope/util/cli.h"

#include <algorithm>

namespace relayscope {

std::vector<std::string> NormalizeFlagNames(int argc, char** argv) {
  std::vector<std::string> out;
  bool flags_ended = false;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (i > 0 && !flags_ended && arg == "--") {
      flags_ended = true;
    } else if (i > 0 && !flags_ended && arg.size() > 2 && arg[0] == '-') {
      const size_t name_start = arg.find_first_not_of('-');
      const size_t name_end = std::min(arg.find('='), arg.size());
      for (size_t j = name_start; j < name_end; ++j) {
        if (arg[j] == '-') arg[j] = '_';
      }
    }
    out.push_back(std::move(arg));
  }
  return out;
}

std::vector<char*> ArgvPointers(std::vector<std::string>& storage) {
  std::vector<char*> out;
  for (std::string& s : storage) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace relayscope
