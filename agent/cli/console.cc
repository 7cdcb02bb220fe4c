#include "agent/cli/console.h"

#include "absl/strings/str_cat.h"
#include "agent/report/verdict.h"

namespace relayscope::agent {
namespace {

// Carriage return and "erase to end of line" (ANSI EL): wipes the live
// status line so the next text starts on a clean line.
constexpr char kEraseLine[] = "\r\033[K";

}  // namespace

int ExitCodeFor(v1::VerdictStatus status) {
  switch (status) {
    case v1::VERDICT_STATUS_REACHABLE:
      return kExitReachable;
    case v1::VERDICT_STATUS_DEGRADED:
      return kExitDegraded;
    default:
      return kExitUnreachable;
  }
}

std::string StatusWord(v1::VerdictStatus status) {
  switch (status) {
    case v1::VERDICT_STATUS_REACHABLE:
      return "REACHABLE";
    case v1::VERDICT_STATUS_DEGRADED:
      return "DEGRADED";
    default:
      return "UNREACHABLE";
  }
}

std::string ErrorLine(const std::string& message) {
  return absl::StrCat("relayscope-agent: ", message, "\n");
}

std::string RenderHeader(const std::string& version, size_t planned_attempts,
                         const v1::Catalogue& catalogue, size_t routes) {
  return absl::StrCat("relayscope ", version, ": ", planned_attempts, " attempts to ",
                      catalogue.regions_size(), " region(s) over ", routes,
                      " route(s), catalogue \"", catalogue.name(), "\"\n");
}

std::string RenderAttemptLine(const v1::Attempt& attempt) {
  const bool ok = attempt.outcome() == v1::OUTCOME_OK;
  std::string line = absl::StrCat(ok ? "  [ ok ] " : "  [FAIL] ", DescribeAttempt(attempt), ": ",
                                  DescribeOutcome(attempt.outcome()));
  if (!ok && !attempt.detail().empty()) absl::StrAppend(&line, " (", attempt.detail(), ")");
  return line;
}

std::string Progress::Add(const v1::Attempt& attempt) {
  ++done_;
  if (attempt.outcome() != v1::OUTCOME_OK) ++failed_;
  std::string out = terminal_ ? kEraseLine : "";
  absl::StrAppend(&out, RenderAttemptLine(attempt), "\n");
  if (terminal_) {
    absl::StrAppend(&out, "  ... ", done_, " of ", planned_, " done, ", done_ - failed_, " ok, ",
                    failed_, " failed");
  }
  return out;
}

std::string RenderVerdict(const v1::Verdict& verdict, bool terminal) {
  std::string out = terminal ? kEraseLine : "";
  absl::StrAppend(&out, "\nVerdict: ", StatusWord(verdict.status()), "\n", verdict.summary(), "\n");
  for (const std::string& works : verdict.working()) {
    absl::StrAppend(&out, "  works:   ", works, "\n");
  }
  for (const v1::Blocker& blocker : verdict.blockers()) {
    absl::StrAppend(&out, blocker.context() ? "  normal:  " : "  blocked: ", blocker.explanation(),
                    "\n           -> ", blocker.advice(), "\n");
  }
  for (const v1::DownloadCheck& download : verdict.downloads()) {
    absl::StrAppend(&out, "\nDownload check: ", download.reachable() ? "OK" : "BLOCKED", "\n",
                    download.summary(), "\n");
  }
  return out;
}

std::string RenderReportPaths(const ReportPaths& paths) {
  return absl::StrCat("\nReport: ", paths.html, "\n        ", paths.text, "\n        ", paths.json,
                      "\n");
}

std::string RenderUploadSummary(const UploadResult& sent, const std::string& collector) {
  if (!sent.error.empty()) return "";
  return absl::StrCat("Telemetry: ", sent.accepted + sent.duplicates, " attempts delivered to ",
                      collector, sent.route.empty() ? "" : absl::StrCat(" over ", sent.route), " (",
                      sent.duplicates, " already known)",
                      sent.delivered_from_spool > 0
                          ? absl::StrCat(", with ", sent.delivered_from_spool,
                                         " spooled batch(es) from earlier runs")
                          : "",
                      "\n");
}

std::string RenderUploadProblems(const UploadResult& sent, const std::string& spool_dir) {
  std::string out;
  if (!sent.error.empty()) {
    out = ErrorLine(absl::StrCat("telemetry not delivered: ", sent.error, "; ", sent.spooled,
                                 " batch(es) wait in ", spool_dir));
  }
  if (sent.dropped > 0) {
    absl::StrAppend(&out, ErrorLine(absl::StrCat("warning: the spool was full; ", sent.dropped,
                                                 " oldest batch(es) dropped")));
  }
  return out;
}

std::string RenderDiscoveryWarnings(const ProxySetup& setup) {
  std::string out;
  for (const SourceReport& source : setup.sources) {
    for (const std::string& warning : source.result.warnings) {
      absl::StrAppend(&out,
                      ErrorLine(absl::StrCat("proxy discovery (", source.name, "): ", warning)));
    }
  }
  for (const PacReport& pac : setup.pac) {
    if (!pac.error.empty()) {
      absl::StrAppend(&out, ErrorLine(absl::StrCat("PAC ", pac.location.url, ": ", pac.error,
                                                   " (DIRECT is still tried)")));
    }
    for (const PacRelayAnswer& a : pac.answers) {
      for (const std::string& limit : a.limits) {
        absl::StrAppend(
            &out, ErrorLine(absl::StrCat("PAC ", pac.location.url, " for ", a.relay, ": ", limit,
                                         " (its answer may differ from a "
                                         "browser's)")));
      }
    }
  }
  return out;
}

}  // namespace relayscope::agent
