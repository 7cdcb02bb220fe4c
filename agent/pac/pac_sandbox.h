// Evaluates a PAC file's FindProxyForURL (or FindProxyForURLEx) in a
// sandbox: Duktape (Debian's duktape-dev: a small embeddable engine whose
// heap allocations can all be routed through our allocator) runs in a
// child process (on Windows: this executable again, see
// RunPacSandboxChildIfAsked) that
//   - has a hard heap cap (the allocator refuses past `memory_limit`),
//   - gives loading the script (scaled by its size) and each query its
//     own `time_limit` and its own `max_resolves` DNS lookups (answers are cached for the whole
//     evaluation, so a host asked twice is looked up once), and is killed
//     when one of them runs over or the whole evaluation outlives
//     `total_time_limit` (wall clock, with RLIMIT_CPU as a backstop),
//   - runs under a seccomp filter that refuses every system call that
//     opens a file, a socket or a process (EPERM), so nothing a PAC does
//     can read a file or reach the network (on Windows: a restricted token
//     at low integrity, in a Job object that caps its memory and CPU time,
//     allows it no second process and no UI, and kills it with the job),
//   - sees no host objects beyond the standard PAC helpers: DNS lookups
//     are asked of this (parent) process over a pipe.
// The script is decoded as browsers do: UTF-8 when it is valid UTF-8 (a
// byte-order mark is dropped), ISO-8859-1 otherwise.
#ifndef AGENT_PAC_PAC_SANDBOX_H_
#define AGENT_PAC_PAC_SANDBOX_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace relayscope::agent {

// The largest PAC file fetched or evaluated (real ones are kilobytes).
inline constexpr size_t kMaxPacBytes = 8 << 20;

struct PacQuery {
  std::string url;   // e.g. "https://relay.example:443/"
  std::string host;  // e.g. "relay.example"
};

struct PacAnswer {
  // The string FindProxyForURL returned (parse with ParsePacResult), or
  // the error for this query (the script threw, returned a non-string).
  absl::StatusOr<std::string> result;
  // Every limit that changed what this query saw ("dnsResolve(\"x\")
  // returned null without a lookup: ..."), in order; empty when none did.
  std::vector<std::string> warnings;
};

struct PacEvaluation {
  std::vector<PacAnswer> answers;   // one per query, in order
  std::vector<std::string> alerts;  // alert() messages (bounded)
};

struct PacOptions {
  // The time each query may take (wall clock; DNS time is not counted).
  // Loading the script gets this plus this much per MB of script.
  absl::Duration time_limit = absl::Seconds(1);
  // The bound on the whole evaluation: at most this, and at most the
  // load's and each query's limit together.
  absl::Duration total_time_limit = absl::Seconds(30);
  size_t memory_limit = 64 << 20;
  // DNS for dnsResolve/dnsResolveEx, run in this process: returns
  // addresses (IPv4 only unless `all`), or nothing.
  std::function<std::vector<std::string>(const std::string& host, bool all)> resolve;
  // DNS lookups allowed while loading the script, and then per query;
  // cached answers do not count. Past it dnsResolve returns null (as for an
  // unknown host) and the query's answer carries a warning.
  int max_resolves = 64;
  // This machine's addresses for myIpAddress().
  std::vector<std::string> my_addresses;
  // The time weekdayRange/dateRange/timeRange evaluate at.
  absl::Time now = absl::Now();
};

// Evaluates `script` for every query. A query that outlives its own time
// limit fails alone (its answer is DEADLINE_EXCEEDED naming its URL) and
// the queries after it are asked in a fresh sandbox, as a browser asks
// each URL on its own. Errors that spoil the whole script
// come back as the status: INVALID_ARGUMENT (not JavaScript, JavaScript
// newer than ES5 - the construct and line are named -, a function with
// more constants than the engine holds, no FindProxyForURL, or larger
// than kMaxPacBytes), DEADLINE_EXCEEDED (the load ran longer than its time
// limit, all of them longer than the total, or queries got stuck: two in
// a row, or every one),
// RESOURCE_EXHAUSTED (more memory than the limit), INTERNAL (the sandbox
// itself failed). Each message says what happened in plain words.
absl::StatusOr<PacEvaluation> EvaluatePac(const std::string& script,
                                          const std::vector<PacQuery>& queries,
                                          const PacOptions& options);

// On Windows the sandbox child is this executable started with
// kPacSandboxChildFlag as its only argument: every program that evaluates
// PAC files calls this first thing in main(), before parsing flags. When
// argv asks for the child it runs it and exits the process; otherwise (and
// always off Windows, where the child is forked) it returns at once.
inline constexpr char kPacSandboxChildFlag[] = "--pac-sandbox-child";
void RunPacSandboxChildIfAsked(int argc, char** argv);

// The default resolver: getaddrinfo in this process.
std::vector<std::string> SystemResolve(const std::string& host, bool all);
// This machine's interface addresses (getifaddrs; GetAdaptersAddresses on
// Windows), loopback last.
std::vector<std::string> LocalAddresses();

}  // namespace relayscope::agent

#endif  // AGENT_PAC_PAC_SANDBOX_H_
