// pac-eval: evaluates one PAC file for the queries on stdin ("url host" per
// line) with a fixed DNS zone and address, printing one answer per line
// ("ERROR: <message>" for a query that failed, "FAILED: <message>" once for
// a script that does not run). The differential test against pacparser
// (pac_differential_test.py) drives it; it is built only with the tests.
//
//   pac-eval <file.pac> <my-ip> [host=ip[,ip...]]...
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "agent/pac/pac_sandbox.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s <file.pac> <my-ip> [host=ip[,ip...]]...\n", argv[0]);
    return 64;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::stringstream script;
  script << in.rdbuf();
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", argv[1]);
    return 66;
  }
  std::map<std::string, std::vector<std::string>> zone;
  for (int i = 3; i < argc; ++i) {
    std::pair<std::string, std::string> entry = absl::StrSplit(argv[i], absl::MaxSplits('=', 1));
    zone[entry.first] = absl::StrSplit(entry.second, ',', absl::SkipEmpty());
  }
  relayscope::agent::PacOptions options;
  options.my_addresses = {argv[2], "127.0.0.1"};
  options.resolve = [zone](const std::string& host, bool all) {
    std::vector<std::string> out;
    auto it = zone.find(host);
    if (it == zone.end()) return out;
    for (const std::string& a : it->second) {
      if (all || a.find(':') == std::string::npos) out.push_back(a);
    }
    return out;
  };
  std::vector<relayscope::agent::PacQuery> queries;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (parts.size() == 2) queries.push_back({parts[0], parts[1]});
  }
  auto evaluation = relayscope::agent::EvaluatePac(script.str(), queries, options);
  if (!evaluation.ok()) {
    std::cout << "FAILED: " << evaluation.status().message() << "\n";
    return 0;
  }
  for (const auto& answer : evaluation->answers) {
    if (answer.result.ok()) {
      std::cout << *answer.result << "\n";
    } else {
      std::cout << "ERROR: " << answer.result.status().message() << "\n";
    }
  }
  return 0;
}
