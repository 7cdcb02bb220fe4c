// PAC evaluation: the input is a PAC script, run in the real sandbox
// (EvaluatePac: a forked Duktape child under seccomp, heap cap and time
// limit) for two queries, with a fake resolver. Slow by design: one fork
// per input, and an endless loop costs the whole time limit. Coverage
// feedback comes from the parent side only (the child's counters die with
// it; Duktape itself is Debian's, uninstrumented).
//
// Invariants: only the documented statuses; INTERNAL ("the sandbox ended
// unexpectedly", i.e. the child crashed) is a finding; every answer is a
// string ParsePacResult accepts without crashing; alerts are bounded.
#include <cstdint>
#include <string>
#include <vector>

#include "agent/pac/pac_result.h"
#include "agent/pac/pac_sandbox.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string script(reinterpret_cast<const char*>(data), size);
  static const std::vector<relayscope::agent::PacQuery> kQueries = {
      {"https://relay.example:443/", "relay.example"},
      {"http://10.1.2.3:8200/", "10.1.2.3"},
  };
  relayscope::agent::PacOptions options;
  options.time_limit = absl::Milliseconds(250);
  options.memory_limit = 16 << 20;
  options.max_resolves = 8;
  options.resolve = [](const std::string& host, bool all) -> std::vector<std::string> {
    if (host.find("fail") != std::string::npos) return {};
    if (all) return {"10.0.0.1", "fd00::1"};
    return {"10.0.0.1"};
  };
  options.my_addresses = {"192.168.1.10", "127.0.0.1"};
  options.now = absl::FromUnixSeconds(1764028800);  // fixed: 2026-11-25T00:00:00Z

  const auto evaluation = relayscope::agent::EvaluatePac(script, kQueries, options);
  if (!evaluation.ok()) {
    const absl::StatusCode code = evaluation.status().code();
    if (code == absl::StatusCode::kInternal) {
      std::fprintf(stderr, "sandbox failure: %s\n",
                   std::string(evaluation.status().message()).c_str());
    }
    FUZZ_CHECK(code == absl::StatusCode::kInvalidArgument ||
               code == absl::StatusCode::kDeadlineExceeded ||
               code == absl::StatusCode::kResourceExhausted);
    FUZZ_CHECK(!evaluation.status().message().empty());
    return 0;
  }
  FUZZ_CHECK(evaluation->answers.size() == kQueries.size());
  FUZZ_CHECK(evaluation->alerts.size() <= 20);
  for (const relayscope::agent::PacAnswer& answer : evaluation->answers) {
    if (!answer.result.ok()) {
      // The query threw or returned garbage, or it alone outlived its time.
      FUZZ_CHECK(answer.result.status().code() == absl::StatusCode::kInvalidArgument ||
                 answer.result.status().code() == absl::StatusCode::kDeadlineExceeded);
      continue;
    }
    FUZZ_CHECK(answer.result->size() <= (64 << 10));
    const auto routes = relayscope::agent::ParsePacResult(*answer.result);
    FUZZ_CHECK(!routes.routes.empty() || !routes.warnings.empty());
  }
  return 0;
}
