#include "agent/report/report_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "agent/report/verdict.h"
#include "common/files.h"
#include "common/host_port.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace relayscope::agent {
namespace {

using google::protobuf::util::TimeUtil;

std::string FormatTime(const google::protobuf::Timestamp& ts) {
  absl::Time t = absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(ts));
  return absl::FormatTime("%Y-%m-%d %H:%M:%E3S", t, absl::LocalTimeZone());
}

// The original client's log timestamp: 2026.11.25-04:20:01.
std::string SeedTime(const google::protobuf::Timestamp& ts) {
  absl::Time t = absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(ts));
  return absl::FormatTime("%Y.%m.%d-%H:%M:%S", t, absl::LocalTimeZone());
}

int64_t Millis(const google::protobuf::Duration& d) { return TimeUtil::DurationToMilliseconds(d); }

std::string PhaseSummary(const v1::Attempt& a) {
  std::vector<std::string> parts;
  for (const v1::PhaseTiming& p : a.phases()) {
    std::string name = v1::Phase_Name(p.phase()).substr(6);  // drop "PHASE_"
    for (char& c : name) c = static_cast<char>(std::tolower(c));
    parts.push_back(
        absl::StrCat(name, "=", Millis(p.duration()), "ms", p.completed() ? "" : "(failed)"));
  }
  return absl::StrJoin(parts, " ");
}

// The attempt's evidence in one line: the detail or the foreign reply, then
// what the proxy said, its certificate and the DNS check.
std::string Evidence(const v1::Attempt& a) {
  std::string out;
  if (a.outcome() != v1::OUTCOME_PROTOCOL_INTERFERENCE) {
    out = a.detail();
  } else {
    out = a.interference().status_line();
    if (!a.interference().page_title().empty()) {
      absl::StrAppend(&out, " title=\"", a.interference().page_title(), "\"");
    }
    if (!a.interference().server().empty()) {
      absl::StrAppend(&out, " server=\"", a.interference().server(), "\"");
    }
  }
  const v1::ProxyReply& reply = a.proxy_reply();
  if (!reply.status_line().empty())
    absl::StrAppend(&out, "; proxy said \"", reply.status_line(), "\"");
  if (!reply.server().empty()) absl::StrAppend(&out, " server=\"", reply.server(), "\"");
  if (!reply.via().empty()) absl::StrAppend(&out, " via=\"", reply.via(), "\"");
  if (!reply.socks_reply().empty()) absl::StrAppend(&out, "; ", reply.socks_reply());
  if (a.proxy_auth().offered_size() > 0) {
    std::vector<std::string> schemes;
    for (int scheme : a.proxy_auth().offered()) {
      schemes.push_back(DescribeAuthScheme(static_cast<v1::ProxyAuthScheme>(scheme)));
    }
    absl::StrAppend(&out, "; offers ", absl::StrJoin(schemes, ", "));
  }
  if (a.proxy_auth().used() != v1::PROXY_AUTH_SCHEME_UNSPECIFIED) {
    absl::StrAppend(&out, "; sent ", DescribeAuthScheme(a.proxy_auth().used()));
  }
  if (a.has_proxy_certificate()) {
    const v1::CertificateEvidence& c = a.proxy_certificate();
    absl::StrAppend(&out, "; proxy certificate '", c.subject(), "' issued by '", c.issuer(), "', ",
                    c.trusted() ? "trusted" : "not trusted",
                    c.verify_error().empty() ? "" : absl::StrCat(" (", c.verify_error(), ")"));
  }
  if (a.has_tls()) {
    const v1::TlsEvidence& t = a.tls();
    absl::StrAppend(&out, "; TLS sni=", t.sni());
    if (!t.version().empty()) absl::StrAppend(&out, " ", t.version(), " ", t.cipher());
    if (t.has_certificate()) {
      const v1::CertificateEvidence& c = t.certificate();
      absl::StrAppend(&out, ", certificate '", c.subject(), "' issued by '", c.issuer(), "', ",
                      c.trusted() ? "trusted" : "not trusted",
                      c.verify_error().empty() ? "" : absl::StrCat(" (", c.verify_error(), ")"),
                      t.pin_matched() ? ", genuine" : ", not the genuine chain",
                      t.name_matched() ? "" : ", without the service's name");
    }
    if (!t.alert().empty()) absl::StrAppend(&out, ", alert '", t.alert(), "'");
    if (t.has_control()) {
      absl::StrAppend(&out, "; SNI control ", t.control().sni(), ": ", t.control().detail());
    }
  }
  if (a.has_dns() && a.dns().status() != v1::DnsEvidence::STATUS_UNSPECIFIED) {
    std::string status = v1::DnsEvidence::Status_Name(a.dns().status());
    absl::StrReplaceAll({{"STATUS_", ""}}, &status);
    absl::StrAppend(&out, "; DNS ", a.dns().host(), " -> ",
                    a.dns().answers().empty() ? "no answer" : absl::StrJoin(a.dns().answers(), ","),
                    " (", absl::AsciiStrToLower(status), ")");
  }
  if (a.retried()) absl::StrAppend(&out, "; retried with credentials");
  return out;
}

// "  blocked at the proxy: ", or "  normal here: " for context.
std::string BlockerHeading(const v1::Blocker& b) {
  if (b.context()) return "  normal here: ";
  return absl::StrCat("  blocked at ", DescribeHop(b.hop()), ": ");
}

const char* StatusWord(v1::VerdictStatus status) {
  switch (status) {
    case v1::VERDICT_STATUS_REACHABLE:
      return "REACHABLE";
    case v1::VERDICT_STATUS_DEGRADED:
      return "DEGRADED";
    case v1::VERDICT_STATUS_UNREACHABLE:
      return "UNREACHABLE";
    default:
      return "UNKNOWN";
  }
}

}  // namespace

std::string HtmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string RenderText(const v1::SessionReport& report,
                       const std::map<uint64_t, AttemptTrace>* traces) {
  std::string out;
  auto line = [&](const google::protobuf::Timestamp& when, absl::string_view text) {
    absl::StrAppend(&out, "[", SeedTime(when), "]-->", text, "\n");
  };
  line(report.start_time(), absl::StrCat("relayscope ", report.agent().version(), " session ",
                                         report.session_id(), ", catalogue ", report.catalogue()));
  for (const v1::DiscoveredProxy& p : report.proxies()) {
    line(report.start_time(),
         absl::StrCat("Proxy ", HostPort(p.proxy().host(), p.proxy().port()), " (",
                      v1::RouteKind_Name(p.proxy().kind()), ") from ",
                      v1::ProxySource_Name(p.proxy().source()), " ", p.proxy().source_detail(),
                      p.proxy().has_credentials() ? ", with credentials" : ""));
    for (const std::string& w : p.warnings()) line(report.start_time(), "  warning: " + w);
  }
  for (const v1::Attempt& a : report.attempts()) {
    line(a.start_time(), absl::StrCat("[", a.sequence(), "] Trying ", DescribeAttempt(a)));
    if (traces != nullptr) {
      if (auto it = traces->find(a.sequence()); it != traces->end() && !it->second.y_hex.empty()) {
        line(a.start_time(), absl::StrCat("    Y  = ", it->second.y_hex, " (256 bytes)"));
        line(a.start_time(), absl::StrCat("    P  = RFC 3526 group 14 (256 bytes)"));
        line(a.start_time(), absl::StrCat("    R1 = ", it->second.r1_hex, " (256 bytes)"));
        line(a.start_time(),
             absl::StrCat("    R2 <- ", it->second.reply_bytes, " bytes: ", it->second.reply_hex));
      }
    }
    std::string result = absl::StrCat("[", a.sequence(), "] ", DescribeAttempt(a), ": ",
                                      DescribeOutcome(a.outcome()));
    if (a.proxy_status() != 0) absl::StrAppend(&result, " proxy_status=", a.proxy_status());
    if (!a.os_error_name().empty()) absl::StrAppend(&result, " ", a.os_error_name());
    absl::StrAppend(&result, " (", Millis(a.total_duration()), " ms; ", PhaseSummary(a), ")");
    const std::string evidence = Evidence(a);
    if (!evidence.empty()) absl::StrAppend(&result, " -- ", evidence);
    line(a.start_time(), result);
  }
  const v1::Verdict& v = report.verdict();
  line(report.end_time(), absl::StrCat("VERDICT: ", StatusWord(v.status()), ": ", v.summary()));
  for (const std::string& w : v.working()) line(report.end_time(), "  works: " + w);
  for (const v1::Blocker& b : v.blockers()) {
    line(report.end_time(), BlockerHeading(b) + b.explanation());
    line(report.end_time(), "    what to do: " + b.advice());
  }
  for (const v1::DownloadCheck& d : v.downloads()) {
    line(report.end_time(),
         absl::StrCat("DOWNLOAD CHECK: ", d.reachable() ? "OK" : "BLOCKED", ": ", d.summary()));
    for (const v1::Blocker& b : d.blockers()) {
      line(report.end_time(), BlockerHeading(b) + b.explanation());
      line(report.end_time(), "    what to do: " + b.advice());
    }
  }
  return out;
}

std::string RenderHtml(const v1::SessionReport& report) {
  const v1::Verdict& v = report.verdict();
  std::string out = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>relayscope connection report</title><style>"
      "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}"
      "table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:4px 6px;"
      "text-align:left;vertical-align:top}th{background:#f3f3f3}.ok{color:#176f2c}"
      ".bad{color:#a11}.verdict{font-size:1.3em;font-weight:600}code{font-size:12px}"
      "</style></head><body>\n<h1>relayscope connection report</h1>\n<p>Session <code>",
      HtmlEscape(report.session_id()), "</code>, agent ", HtmlEscape(report.agent().version()),
      " on ", HtmlEscape(report.agent().os()), ", catalogue ", HtmlEscape(report.catalogue()),
      ".</p>\n<p class=\"verdict ", v.status() == v1::VERDICT_STATUS_UNREACHABLE ? "bad" : "ok",
      "\">", StatusWord(v.status()), ": ", HtmlEscape(v.summary()), "</p>\n");
  if (!v.working().empty()) {
    absl::StrAppend(&out, "<h2>What works</h2><ul>\n");
    for (const std::string& w : v.working())
      absl::StrAppend(&out, "<li>", HtmlEscape(w), "</li>\n");
    absl::StrAppend(&out, "</ul>\n");
  }
  if (!v.blockers().empty()) {
    absl::StrAppend(&out,
                    "<h2>What is blocked</h2><table><tr><th>Where</th><th>What</th>"
                    "<th>What to do</th></tr>\n");
    for (const v1::Blocker& b : v.blockers()) {
      absl::StrAppend(&out, "<tr><td>",
                      HtmlEscape(b.context() ? "normal here" : DescribeHop(b.hop())), "</td><td>",
                      HtmlEscape(b.explanation()), "</td><td>", HtmlEscape(b.advice()),
                      "</td></tr>\n");
    }
    absl::StrAppend(&out, "</table>\n");
  }
  if (!v.downloads().empty()) {
    absl::StrAppend(&out, "<h2>Download check</h2>\n");
    for (const v1::DownloadCheck& d : v.downloads()) {
      absl::StrAppend(&out, "<p class=\"download ", d.reachable() ? "ok" : "bad", "\">",
                      HtmlEscape(d.summary()), "</p>\n");
      if (d.blockers().empty()) continue;
      absl::StrAppend(&out, "<table><tr><th>Where</th><th>What</th><th>What to do</th></tr>\n");
      for (const v1::Blocker& b : d.blockers()) {
        absl::StrAppend(&out, "<tr><td>",
                        HtmlEscape(b.context() ? "normal here" : DescribeHop(b.hop())), "</td><td>",
                        HtmlEscape(b.explanation()), "</td><td>", HtmlEscape(b.advice()),
                        "</td></tr>\n");
      }
      absl::StrAppend(&out, "</table>\n");
    }
  }
  absl::StrAppend(&out,
                  "<h2>Every attempt</h2><table><tr><th>#</th><th>Time</th><th>Relay</th>"
                  "<th>Route</th><th>Outcome</th><th>Phases</th><th>Evidence</th></tr>\n");
  for (const v1::Attempt& a : report.attempts()) {
    absl::StrAppend(
        &out, "<tr><td>", a.sequence(), "</td><td>", HtmlEscape(FormatTime(a.start_time())),
        "</td><td>", HtmlEscape(absl::StrCat(a.relay(), " ", a.address(), ":", a.port())),
        "</td><td>", HtmlEscape(DescribeRoute(a)), "</td><td class=\"",
        a.outcome() == v1::OUTCOME_OK ? "ok" : "bad", "\">",
        HtmlEscape(DescribeOutcome(a.outcome())), "</td><td>", HtmlEscape(PhaseSummary(a)),
        "</td><td><code>", HtmlEscape(Evidence(a)), "</code></td></tr>\n");
  }
  absl::StrAppend(&out, "</table>\n</body></html>\n");
  return out;
}

std::string RenderJson(const v1::SessionReport& report) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.add_whitespace = true;
  // Cannot fail for a valid message of a linked type.
  (void)google::protobuf::util::MessageToJsonString(report, &json, options);
  return json;
}

absl::StatusOr<ReportPaths> WriteReports(const v1::SessionReport& report,
                                         const std::string& directory,
                                         const std::map<uint64_t, AttemptTrace>* traces) {
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot create report directory ", directory, ": ", ec.message()));
  }
  ReportPaths paths;
  const std::string stem = absl::StrCat(directory, "/relayscope-", report.session_id());
  paths.text = stem + ".log";
  paths.json = stem + ".json";
  paths.html = absl::StrCat(directory, "/connrpt.html");
  RETURN_IF_ERROR(WriteFileAtomically(paths.text, RenderText(report, traces)));
  RETURN_IF_ERROR(WriteFileAtomically(paths.json, RenderJson(report)));
  RETURN_IF_ERROR(WriteFileAtomically(paths.html, RenderHtml(report)));
  return paths;
}

}  // namespace relayscope::agent
