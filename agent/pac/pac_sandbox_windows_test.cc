// The Windows PAC sandbox, end to end: this program is its own sandbox
// child (as relayscope-agent.exe is), and checks that a normal PAC is
// answered (DNS through the parent included), that an endless loop is
// stopped as DEADLINE_EXCEEDED naming its query, and that an unbounded
// allocation is stopped as RESOURCE_EXHAUSTED, not as a loop. Built only
// for Windows (agent/pac/CMakeLists.txt); run under wine64 by ctest
// through the toolchain's CMAKE_CROSSCOMPILING_EMULATOR. No GoogleTest:
// none is cross-built. Exit status 0 when every check holds, 1 otherwise.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "agent/pac/pac_sandbox.h"

namespace {

using relayscope::agent::EvaluatePac;
using relayscope::agent::PacOptions;
using relayscope::agent::PacQuery;

int failures = 0;

void Check(bool ok, const std::string& what, const std::string& detail) {
  std::printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", what.c_str(), detail.empty() ? "" : ": ",
              detail.c_str());
  if (!ok) ++failures;
}

PacOptions Options() {
  PacOptions options;
  options.time_limit = absl::Seconds(1);
  options.memory_limit = 32 << 20;
  options.my_addresses = {"10.9.8.7"};
  options.resolve = [](const std::string& host, bool) -> std::vector<std::string> {
    if (host == "relay.corp.example") return {"10.20.30.40"};
    return {};
  };
  return options;
}

const std::vector<PacQuery> kQueries = {{"https://relay.corp.example:8200/", "relay.corp.example"},
                                        {"https://outside.example:443/", "outside.example"}};

}  // namespace

int main(int argc, char** argv) {
  relayscope::agent::RunPacSandboxChildIfAsked(argc, argv);

  {
    const absl::Time start = absl::Now();
    auto r = EvaluatePac(
        "function FindProxyForURL(url, host) {\n"
        "  if (isInNet(dnsResolve(host), '10.0.0.0', '255.0.0.0')) return 'DIRECT';\n"
        "  if (myIpAddress() == '10.9.8.7') return 'PROXY proxy.corp:3128; DIRECT';\n"
        "  return 'PROXY wrong:1';\n"
        "}\n",
        kQueries, Options());
    const std::string took = absl::FormatDuration(absl::Now() - start);
    Check(r.ok(), "normal PAC evaluates", r.ok() ? took : std::string(r.status().message()));
    if (r.ok()) {
      Check(r->answers.size() == 2 && r->answers[0].result.ok() &&
                *r->answers[0].result == "DIRECT",
            "dnsResolve answered by the parent over the pipe",
            r->answers.empty() ? "" : r->answers[0].result.value_or("(error)"));
      Check(r->answers.size() == 2 && r->answers[1].result.ok() &&
                *r->answers[1].result == "PROXY proxy.corp:3128; DIRECT",
            "myIpAddress() from the parent's list",
            r->answers.size() < 2 ? "" : r->answers[1].result.value_or("(error)"));
    }
  }
  {
    const absl::Time start = absl::Now();
    auto r = EvaluatePac("function FindProxyForURL(url, host) { while (true) {} }", kQueries,
                         Options());
    const absl::Duration took = absl::Now() - start;
    Check(!r.ok() && absl::IsDeadlineExceeded(r.status()) &&
              absl::StrContains(r.status().message(), "https://relay.corp.example:8200/"),
          "endless loop is DEADLINE_EXCEEDED naming the query",
          absl::StrCat(r.ok() ? "ok?" : r.status().ToString(), " after ",
                       absl::FormatDuration(took)));
    Check(took < absl::Seconds(10), "endless loop stopped within the limits",
          absl::FormatDuration(took));
  }
  {
    const absl::Time start = absl::Now();
    auto r = EvaluatePac(
        "var keep = []; function FindProxyForURL(url, host) {\n"
        "  var s = 'xxxxxxxxxxxxxxxx';\n"
        "  while (true) { s = s + s; keep.push(s); }\n"
        "}\n",
        kQueries, Options());
    Check(!r.ok() && absl::IsResourceExhausted(r.status()),
          "unbounded allocation is RESOURCE_EXHAUSTED",
          absl::StrCat(r.ok() ? "ok?" : r.status().ToString(), " after ",
                       absl::FormatDuration(absl::Now() - start)));
  }
  {
    auto r = EvaluatePac("function FindProxyForURL(url, host) { return 'DIRECT'; ", kQueries,
                         Options());
    Check(!r.ok() && absl::IsInvalidArgument(r.status()), "a syntax error is INVALID_ARGUMENT",
          r.ok() ? "ok?" : r.status().ToString());
  }
  std::printf("%s\n", failures == 0 ? "PASS" : "FAILED");
  return failures == 0 ? 0 : 1;
}
