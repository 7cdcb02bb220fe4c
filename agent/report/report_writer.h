// The agent's reports of one session: a seed-style timestamped text log, an
// HTML report (connrpt.html, as the original client wrote) and JSON.
//
// Every string that came from the network (interceptor evidence, proxy
// messages) is escaped in HTML. No secret is ever in a SessionReport, so none
// can reach a report.
#ifndef AGENT_REPORT_REPORT_WRITER_H_
#define AGENT_REPORT_REPORT_WRITER_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/attempt/attempt.h"
#include "relayscope/v1/telemetry.pb.h"

namespace relayscope::agent {

struct ReportPaths {
  std::string text;  // relayscope-<session>.log
  std::string html;  // connrpt.html
  std::string json;  // relayscope-<session>.json
};

// The seed-style log: "[YYYY.MM.DD-HH:MM:SS]-->" lines, one per attempt
// (with the handshake hexdumps when `traces` has them), then the verdict.
std::string RenderText(const v1::SessionReport& report,
                       const std::map<uint64_t, AttemptTrace>* traces = nullptr);
// A self-contained HTML page (inline CSS, no scripts).
std::string RenderHtml(const v1::SessionReport& report);
// The report as JSON with proto field names.
std::string RenderJson(const v1::SessionReport& report);
// Escapes &, <, >, " and ' for HTML text and attribute values.
std::string HtmlEscape(absl::string_view text);

// Writes all three into `directory` (created if missing). Each file is
// written to a temporary name and renamed, so a full disk leaves no partial
// report. Returns the paths, or UNAVAILABLE / RESOURCE_EXHAUSTED naming the
// file that could not be written.
absl::StatusOr<ReportPaths> WriteReports(const v1::SessionReport& report,
                                         const std::string& directory,
                                         const std::map<uint64_t, AttemptTrace>* traces = nullptr);

}  // namespace relayscope::agent

#endif  // AGENT_REPORT_REPORT_WRITER_H_
