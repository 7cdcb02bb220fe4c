#include "collector/ingest/validator.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace relayscope::collector {
namespace {

constexpr size_t kMaxId = 64;
constexpr size_t kMaxShort = 64;
constexpr size_t kMaxHost = 255;
constexpr size_t kMaxText = 512;
constexpr size_t kMaxEvidence = 256;
constexpr int kMaxPhases = 8;
constexpr int kMaxProxies = 64;
constexpr int kMaxBlockers = 256;
// Download services per verdict: a catalogue lists a handful.
constexpr int kMaxDownloads = 16;
const absl::Duration kMaxDuration = absl::Hours(1);

// Identifiers chosen by agents: UUIDs and similar.
bool IsIdentifier(const std::string& s) {
  if (s.empty() || s.size() > kMaxId) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

// UTF-8 validity is enforced by protobuf for string fields; here only
// control characters, which would break one-line logs, are refused.
bool IsPrintable(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

struct Problem {
  std::string field;
  std::string reason;
};

std::optional<Problem> CheckText(const std::string& field, const std::string& value, size_t max) {
  if (value.size() > max) {
    return Problem{field, absl::StrCat("longer than ", max, " bytes")};
  }
  if (!IsPrintable(value)) return Problem{field, "contains control characters"};
  return std::nullopt;
}

std::optional<Problem> CheckDuration(const std::string& field,
                                     const google::protobuf::Duration& d) {
  // protobuf 3.21 has no TimeUtil::IsDurationValid; a non-negative one is
  // simple to check.
  if (d.seconds() < 0 || d.nanos() < 0 || d.nanos() > 999999999) {
    return Problem{field, "must be a non-negative duration"};
  }
  if (absl::Seconds(d.seconds()) > kMaxDuration) return Problem{field, "longer than 1h"};
  return std::nullopt;
}

std::optional<Problem> CheckProxy(const std::string& field, const v1::Proxy& proxy) {
  if (!v1::RouteKind_IsValid(proxy.kind())) return Problem{field + ".kind", "unknown route kind"};
  if (!v1::ProxySource_IsValid(proxy.source())) {
    return Problem{field + ".source", "unknown proxy source"};
  }
  if (proxy.port() > 65535) return Problem{field + ".port", "out of range"};
  if (auto p = CheckText(field + ".host", proxy.host(), kMaxHost)) return p;
  if (auto p = CheckText(field + ".source_detail", proxy.source_detail(), kMaxText)) return p;
  return std::nullopt;
}

std::optional<Problem> CheckProxyReply(const std::string& field, const v1::ProxyReply& r) {
  for (const auto& [name, text] :
       {std::pair{".status_line", &r.status_line()}, std::pair{".server", &r.server()},
        std::pair{".via", &r.via()}, std::pair{".socks_reply", &r.socks_reply()}}) {
    if (auto p = CheckText(field + name, *text, kMaxEvidence)) return p;
  }
  return std::nullopt;
}

std::optional<Problem> CheckProxyAuth(const std::string& field, const v1::ProxyAuthEvidence& e) {
  if (e.offered_size() > 8) return Problem{field + ".offered", "more than 8"};
  for (int scheme : e.offered()) {
    if (!v1::ProxyAuthScheme_IsValid(scheme)) return Problem{field + ".offered", "unknown scheme"};
  }
  if (!v1::ProxyAuthScheme_IsValid(e.used())) return Problem{field + ".used", "unknown scheme"};
  return CheckText(field + ".realm", e.realm(), 128);
}

std::optional<Problem> CheckCertificate(const std::string& field,
                                        const v1::CertificateEvidence& c) {
  for (const auto& [name, text] :
       {std::pair{".subject", &c.subject()}, std::pair{".issuer", &c.issuer()},
        std::pair{".root", &c.root()}, std::pair{".verify_error", &c.verify_error()}}) {
    if (auto p = CheckText(field + name, *text, kMaxEvidence)) return p;
  }
  return CheckText(field + ".sha256", c.sha256(), 64);
}

std::optional<Problem> CheckTls(const std::string& field, const v1::TlsEvidence& t) {
  if (auto p = CheckText(field + ".sni", t.sni(), kMaxEvidence)) return p;
  if (auto p = CheckText(field + ".version", t.version(), kMaxShort)) return p;
  if (auto p = CheckText(field + ".cipher", t.cipher(), kMaxShort)) return p;
  if (auto p = CheckCertificate(field + ".certificate", t.certificate())) return p;
  if (auto p = CheckText(field + ".alert", t.alert(), 128)) return p;
  const v1::SniControl& c = t.control();
  if (!v1::SniControl::Result_IsValid(c.result())) {
    return Problem{field + ".control.result", "unknown"};
  }
  if (auto p = CheckText(field + ".control.sni", c.sni(), kMaxEvidence)) return p;
  return CheckText(field + ".control.detail", c.detail(), kMaxEvidence);
}

// Outcomes only a download check produces (a TLS handshake with a
// service); a relay attempt carrying one is malformed.
bool IsDownloadOnly(v1::Outcome outcome) {
  return outcome == v1::OUTCOME_TLS_INTERCEPTED || outcome == v1::OUTCOME_SNI_FILTERED ||
         outcome == v1::OUTCOME_TLS_REFUSED;
}

std::optional<Problem> CheckDns(const std::string& field, const v1::DnsEvidence& d) {
  if (!v1::DnsEvidence::Status_IsValid(d.status())) return Problem{field + ".status", "unknown"};
  if (d.answers_size() > 16) return Problem{field + ".answers", "more than 16"};
  for (const std::string& answer : d.answers()) {
    if (auto p = CheckText(field + ".answers", answer, kMaxHost)) return p;
  }
  if (auto p = CheckText(field + ".host", d.host(), kMaxHost)) return p;
  return CheckText(field + ".error", d.error(), kMaxEvidence);
}

std::optional<Problem> CheckAttemptEvidence(const v1::Attempt& a) {
  if (auto p = CheckProxyReply("proxy_reply", a.proxy_reply())) return p;
  if (auto p = CheckProxyAuth("proxy_auth", a.proxy_auth())) return p;
  if (auto p = CheckCertificate("proxy_certificate", a.proxy_certificate())) return p;
  if (auto p = CheckDns("dns", a.dns())) return p;
  if (auto p = CheckTls("tls", a.tls())) return p;
  if (!v1::RouteRole_IsValid(a.route_role())) return Problem{"route_role", "unknown"};
  if (a.route_rank() > static_cast<uint32_t>(kMaxProxies) + 1) {
    return Problem{"route_rank", absl::StrCat("more than ", kMaxProxies + 1)};
  }
  if (!v1::ProxySource_IsValid(a.bypass_source())) return Problem{"bypass_source", "unknown"};
  return CheckText("bypass_entry", a.bypass_entry(), kMaxEvidence);
}

std::optional<Problem> CheckBlocker(const std::string& field, const v1::Blocker& b) {
  if (!v1::CauseKind_IsValid(b.kind())) return Problem{field + ".kind", "unknown"};
  if (!v1::Hop_IsValid(b.hop())) return Problem{field + ".hop", "unknown"};
  if (!v1::Outcome_IsValid(b.outcome())) return Problem{field + ".outcome", "unknown"};
  if (b.relays_size() > kMaxBlockers || b.ports_size() > kMaxBlockers) {
    return Problem{field, "too many relays or ports"};
  }
  for (const std::string& relay : b.relays()) {
    if (auto p = CheckText(field + ".relays", relay, kMaxShort)) return p;
  }
  if (b.has_proxy()) {
    if (auto p = CheckProxy(field + ".proxy", b.proxy())) return p;
  }
  const v1::DeviceEvidence& e = b.evidence();
  if (auto p = CheckProxyReply(field + ".evidence.proxy_reply", e.proxy_reply())) return p;
  if (auto p = CheckProxyAuth(field + ".evidence.proxy_auth", e.proxy_auth())) return p;
  if (auto p = CheckCertificate(field + ".evidence.certificate", e.certificate())) return p;
  if (auto p = CheckDns(field + ".evidence.dns", e.dns())) return p;
  if (auto p = CheckTls(field + ".evidence.tls", e.tls())) return p;
  const v1::InterferenceEvidence& i = e.interference();
  for (const auto* text : {&i.status_line(), &i.page_title(), &i.server(), &i.excerpt()}) {
    if (auto p = CheckText(field + ".evidence.interference", *text, kMaxEvidence)) return p;
  }
  return CheckText(field + ".evidence.os_error_name", e.os_error_name(), 32);
}

// Working routes and blockers, bounded alike in the verdict and in each of
// its download checks.
std::optional<Problem> CheckWorkingAndBlockers(
    const std::string& field, const google::protobuf::RepeatedPtrField<std::string>& working,
    const google::protobuf::RepeatedPtrField<v1::Blocker>& blockers) {
  if (working.size() > kMaxBlockers || blockers.size() > kMaxBlockers) {
    return Problem{field, absl::StrCat("more than ", kMaxBlockers, " entries")};
  }
  for (const std::string& w : working) {
    if (auto p = CheckText(field + ".working", w, kMaxText)) return p;
  }
  for (int i = 0; i < blockers.size(); ++i) {
    const v1::Blocker& b = blockers.Get(i);
    const std::string where = absl::StrCat(field, ".blockers[", i, "]");
    for (const auto* text : {&b.explanation(), &b.advice()}) {
      if (auto p = CheckText(where, *text, 2 * kMaxText)) return p;
    }
    if (auto p = CheckBlocker(where, b)) return p;
  }
  return std::nullopt;
}

std::optional<Problem> CheckDownloadCheck(const std::string& field, const v1::DownloadCheck& d) {
  if (auto p = CheckText(field + ".service", d.service(), kMaxShort)) return p;
  if (auto p = CheckText(field + ".display_name", d.display_name(), 128)) return p;
  if (auto p = CheckText(field + ".summary", d.summary(), 4 * kMaxText)) return p;
  return CheckWorkingAndBlockers(field, d.working(), d.blockers());
}

}  // namespace

Validator::Validator(const v1::Catalogue& catalogue, ValidationLimits limits) : limits_(limits) {
  for (const v1::Region& region : catalogue.regions()) {
    regions_.insert(region.id());
    for (const v1::Relay& relay : region.relays()) {
      relays_[relay.id()] = {region.id(),
                             std::set<uint32_t>(relay.ports().begin(), relay.ports().end())};
    }
  }
  for (const v1::DownloadService& service : catalogue.downloads()) {
    downloads_[service.id()] = {service.region(),
                                std::set<uint32_t>(service.ports().begin(), service.ports().end())};
  }
}

absl::Status Validator::ValidateEnvelope(const v1::UploadRequest& request) const {
  auto fail = [](const std::string& field, const std::string& reason) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", reason));
  };
  if (!request.has_session()) return fail("session", "required");
  const v1::SessionReport& s = request.session();
  if (!IsIdentifier(s.agent().agent_id())) {
    return fail("session.agent.agent_id", "required, 1-64 of [A-Za-z0-9._-]");
  }
  if (!IsIdentifier(s.session_id())) {
    return fail("session.session_id", "required, 1-64 of [A-Za-z0-9._-]");
  }
  for (const auto& [field, value] :
       {std::pair<const char*, const std::string*>{"session.agent.version", &s.agent().version()},
        {"session.agent.os", &s.agent().os()},
        {"session.agent.site", &s.agent().site()},
        {"session.catalogue", &s.catalogue()}}) {
    if (auto p = CheckText(field, *value, kMaxShort)) return fail(p->field, p->reason);
  }
  if (s.attempts_size() > limits_.max_attempts_per_batch) {
    return fail("session.attempts",
                absl::StrCat("more than ", limits_.max_attempts_per_batch, " in one batch"));
  }
  if (s.proxies_size() > kMaxProxies) {
    return fail("session.proxies", absl::StrCat("more than ", kMaxProxies));
  }
  for (int i = 0; i < s.proxies_size(); ++i) {
    const std::string field = absl::StrCat("session.proxies[", i, "]");
    if (auto p = CheckProxy(field + ".proxy", s.proxies(i).proxy())) {
      return fail(p->field, p->reason);
    }
    if (s.proxies(i).warnings_size() > 16 || s.proxies(i).bypass_size() > 256) {
      return fail(field, "too many warnings or bypass entries");
    }
    for (const std::string& w : s.proxies(i).warnings()) {
      if (auto p = CheckText(field + ".warnings", w, kMaxText)) return fail(p->field, p->reason);
    }
    for (const std::string& b : s.proxies(i).bypass()) {
      if (auto p = CheckText(field + ".bypass", b, kMaxHost)) return fail(p->field, p->reason);
    }
  }
  const v1::Verdict& v = s.verdict();
  if (!v1::VerdictStatus_IsValid(v.status())) return fail("session.verdict.status", "unknown");
  if (auto p = CheckText("session.verdict.summary", v.summary(), 4 * kMaxText)) {
    return fail(p->field, p->reason);
  }
  if (auto p = CheckWorkingAndBlockers("session.verdict", v.working(), v.blockers())) {
    return fail(p->field, p->reason);
  }
  if (v.downloads_size() > kMaxDownloads) {
    return fail("session.verdict.downloads", absl::StrCat("more than ", kMaxDownloads));
  }
  for (int i = 0; i < v.downloads_size(); ++i) {
    if (auto p = CheckDownloadCheck(absl::StrCat("session.verdict.downloads[", i, "]"),
                                    v.downloads(i))) {
      return fail(p->field, p->reason);
    }
  }
  return absl::OkStatus();
}

std::optional<v1::RejectedAttempt> Validator::ValidateAttempt(const std::string& session_id,
                                                              absl::Time now,
                                                              v1::Attempt* a) const {
  const bool download = a->target() == v1::TARGET_DOWNLOAD;
  auto check = [&]() -> std::optional<Problem> {
    if (a->session_id() != session_id) return Problem{"session_id", "differs from the batch's"};
    if (a->sequence() == 0) return Problem{"sequence", "must be at least 1"};
    if (!a->has_start_time() || a->start_time().nanos() < 0 ||
        a->start_time().nanos() > 999999999) {
      return Problem{"start_time", "required"};
    }
    const absl::Time start = absl::FromUnixSeconds(a->start_time().seconds());
    if (start < now - limits_.max_age) return Problem{"start_time", "too old"};
    if (start > now + limits_.max_future_skew) return Problem{"start_time", "in the future"};
    if (a->route_kind() == v1::ROUTE_KIND_UNSPECIFIED || !v1::RouteKind_IsValid(a->route_kind())) {
      return Problem{"route_kind", "required, one of RouteKind"};
    }
    if (a->outcome() == v1::OUTCOME_UNSPECIFIED || !v1::Outcome_IsValid(a->outcome())) {
      return Problem{"outcome", "required, one of Outcome"};
    }
    if (!v1::Target_IsValid(a->target())) return Problem{"target", "unknown, one of Target"};
    if (!download && IsDownloadOnly(a->outcome())) {
      return Problem{"outcome", "a download check's outcome on a relay attempt"};
    }
    if (!v1::Phase_IsValid(a->failed_phase())) return Problem{"failed_phase", "unknown phase"};
    if (a->port() == 0 || a->port() > 65535) return Problem{"port", "out of range"};
    if (a->phases_size() > kMaxPhases) return Problem{"phases", "more than 8"};
    for (int i = 0; i < a->phases_size(); ++i) {
      const std::string field = absl::StrCat("phases[", i, "]");
      if (!v1::Phase_IsValid(a->phases(i).phase()) ||
          a->phases(i).phase() == v1::PHASE_UNSPECIFIED) {
        return Problem{field + ".phase", "unknown phase"};
      }
      if (auto p = CheckDuration(field + ".duration", a->phases(i).duration())) return p;
    }
    if (auto p = CheckDuration("total_duration", a->total_duration())) return p;
    if (a->route_kind() != v1::ROUTE_KIND_DIRECT || a->has_proxy()) {
      if (auto p = CheckProxy("proxy", a->proxy())) return p;
    }
    if (a->proxy_status() > 999) return Problem{"proxy_status", "out of range"};
    if (auto p = CheckText("region", a->region(), kMaxShort)) return p;
    if (auto p = CheckText("relay", a->relay(), kMaxShort)) return p;
    if (download && !downloads_.count(a->relay())) {
      return Problem{"relay", "not a download service of the collector's catalogue"};
    }
    if (auto p = CheckText("address", a->address(), kMaxHost)) return p;
    if (auto p = CheckText("os_error_name", a->os_error_name(), 32)) return p;
    if (auto p = CheckText("detail", a->detail(), kMaxText)) return p;
    const v1::InterferenceEvidence& e = a->interference();
    if (auto p = CheckText("interference.status_line", e.status_line(), kMaxEvidence)) return p;
    if (auto p = CheckText("interference.page_title", e.page_title(), kMaxEvidence)) return p;
    if (auto p = CheckText("interference.server", e.server(), kMaxEvidence)) return p;
    if (auto p = CheckText("interference.excerpt", e.excerpt(), kMaxEvidence)) return p;
    if (auto p = CheckAttemptEvidence(*a)) return p;
    return std::nullopt;
  };
  if (std::optional<Problem> problem = check()) {
    v1::RejectedAttempt rejected;
    rejected.set_sequence(a->sequence());
    rejected.set_field(problem->field);
    rejected.set_reason(problem->reason);
    return rejected;
  }
  // Fold names the catalogue does not know: bounded label sets. A
  // download attempt names a known service (checked above).
  if (download) {
    const auto& [region, ports] = downloads_.at(a->relay());
    a->set_region(region);
    if (!ports.count(a->port())) a->set_port(0);
    return std::nullopt;
  }
  auto relay = relays_.find(a->relay());
  if (relay == relays_.end()) {
    a->set_relay(kOther);
    if (!regions_.count(a->region())) a->set_region(kOther);
    a->set_port(0);
  } else {
    a->set_region(relay->second.first);  // the catalogue decides the region
    if (!relay->second.second.count(a->port())) a->set_port(0);
  }
  return std::nullopt;
}

}  // namespace relayscope::collector
