#include "common/cli.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

#ifndef RELAYSCOPE_VERSION
#define RELAYSCOPE_VERSION "unknown"
#endif

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
  out.reserve(storage.size() + 1);
  for (std::string& s : storage) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::vector<std::string> JoinRepeatedFlags(std::vector<std::string> args,
                                           const std::vector<std::string>& list_flags) {
  struct Joined {
    size_t at = 0;  // where its first occurrence was in `out`
    std::vector<std::string> values;
  };
  std::vector<std::pair<std::string, Joined>> joined;  // in first-seen order
  auto entry = [&](const std::string& name, size_t at) -> Joined& {
    for (auto& [n, j] : joined) {
      if (n == name) return j;
    }
    joined.push_back({name, Joined{at, {}}});
    return joined.back().second;
  };
  std::vector<std::string> out;
  bool flags_ended = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (i > 0 && !flags_ended && arg == "--") flags_ended = true;
    const size_t name_start = arg.find_first_not_of('-');
    const bool is_flag = i > 0 && !flags_ended && name_start >= 1 && name_start <= 2 &&
                         name_start != std::string::npos;
    std::string name;
    std::optional<std::string> value;
    if (is_flag) {
      const size_t equals = arg.find('=');
      name = arg.substr(name_start,
                        equals == std::string::npos ? std::string::npos : equals - name_start);
      if (equals != std::string::npos) value = arg.substr(equals + 1);
    }
    if (!is_flag || std::find(list_flags.begin(), list_flags.end(), name) == list_flags.end()) {
      out.push_back(arg);
      continue;
    }
    if (!value && i + 1 < args.size()) value = args[++i];  // "--name value"
    Joined& j = entry(name, out.size());
    if (j.at == out.size()) out.push_back("");  // filled in below
    if (value && !value->empty()) j.values.push_back(*value);
  }
  for (const auto& [name, j] : joined) {
    out[j.at] = absl::StrCat("--", name, "=", absl::StrJoin(j.values, ","));
  }
  return out;
}

std::string VersionString() { return absl::StrCat("relayscope ", RELAYSCOPE_VERSION); }

std::vector<std::string> ParseCommandLine(int argc, char** argv, const std::string& usage,
                                          const std::vector<std::string>& list_flags) {
  absl::SetProgramUsageMessage(usage);
  absl::FlagsUsageConfig config;
  // Every flag defined outside abseil is the binary's own.
  auto ours = [](absl::string_view path) { return !absl::StrContains(path, "absl/"); };
  config.contains_helpshort_flags = ours;
  config.contains_help_flags = ours;
  // "../../agent/cli/flags.cc" (as the build saw it) -> "agent/cli/flags.cc".
  config.normalize_filename = [](absl::string_view path) {
    while (absl::ConsumePrefix(&path, "../")) {
    }
    return std::string(path);
  };
  // Set once, before any thread could read it.
  static std::string* const program = new std::string(argc > 0 ? argv[0] : "relayscope");
  // Its file name: after the last / (or \ on Windows), without ".exe".
  *program = program->substr(program->find_last_of("/\\") + 1);
  if (program->size() > 4 && absl::EqualsIgnoreCase(program->substr(program->size() - 4), ".exe")) {
    program->resize(program->size() - 4);
  }
  config.version_string = [] { return absl::StrCat(*program, " (", VersionString(), ")\n"); };
  absl::SetFlagsUsageConfig(config);
  std::vector<std::string> storage = JoinRepeatedFlags(NormalizeFlagNames(argc, argv), list_flags);
  std::vector<char*> pointers = ArgvPointers(storage);
  std::vector<char*> positional =
      absl::ParseCommandLine(static_cast<int>(storage.size()), pointers.data());
  return std::vector<std::string>(positional.begin(), positional.end());
}

}  // namespace relayscope
