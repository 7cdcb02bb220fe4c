#include "agent/cli/proxies_command.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace relayscope::agent {
namespace {

std::string Lower(const std::string& enum_name, const std::string& prefix) {
  return absl::AsciiStrToLower(enum_name.substr(prefix.size()));
}
std::string KindName(v1::RouteKind kind) { return Lower(v1::RouteKind_Name(kind), "ROUTE_KIND_"); }
std::string SourceName(v1::ProxySource source) {
  return Lower(v1::ProxySource_Name(source), "PROXY_SOURCE_");
}
std::string Describe(const ProxyCandidate& c) {
  return absl::StrCat(
      KindName(c.url.kind), " ", c.url.Redacted(),
      c.scope.empty() ? "" : absl::StrCat(" for ", c.scope), "  [", SourceName(c.source), ": ",
      c.detail, "]",
      c.bypass.empty() ? "" : absl::StrCat(" bypass: ", absl::StrJoin(c.bypass, ",")));
}

google::protobuf::Value Str(const std::string& s) {
  google::protobuf::Value v;
  v.set_string_value(s);
  return v;
}
google::protobuf::Value List(const std::vector<std::string>& items) {
  google::protobuf::Value v;
  for (const auto& item : items) *v.mutable_list_value()->add_values() = Str(item);
  v.mutable_list_value();
  return v;
}
google::protobuf::Value CandidateJson(const ProxyCandidate& c) {
  google::protobuf::Value v;
  auto& f = *v.mutable_struct_value()->mutable_fields();
  f["kind"] = Str(KindName(c.url.kind));
  f["proxy"] = Str(c.url.Redacted());
  f["source"] = Str(SourceName(c.source));
  f["detail"] = Str(c.detail);
  f["scope"] = Str(c.scope);
  f["bypass"] = List(c.bypass);
  return v;
}

}  // namespace

std::string RenderProxySetupText(const ProxySetup& setup) {
  std::string out = "Proxy sources:\n";
  for (const SourceReport& source : setup.sources) {
    const DiscoveryResult& r = source.result;
    if (r.proxies.empty() && r.pac.empty() && !r.explicitly_direct && r.warnings.empty()) {
      absl::StrAppend(&out, "  ", source.name, ": nothing configured\n");
      continue;
    }
    absl::StrAppend(&out, "  ", source.name, ":\n");
    if (r.explicitly_direct) absl::StrAppend(&out, "    no proxy (explicitly direct)\n");
    for (const ProxyCandidate& c : r.proxies)
      absl::StrAppend(&out, "    proxy ", Describe(c), "\n");
    for (const PacLocation& p : r.pac) {
      absl::StrAppend(&out, "    PAC ", p.url, "  [", p.detail, "]\n");
    }
    for (const std::string& w : r.warnings) absl::StrAppend(&out, "    warning: ", w, "\n");
  }
  for (const PacReport& pac : setup.pac) {
    absl::StrAppend(&out, "\nPAC ", pac.location.url, " (from ", SourceName(pac.location.source),
                    " ", pac.location.detail, "):\n");
    if (!pac.error.empty()) {
      absl::StrAppend(&out, "  error: ", pac.error,
                      "\n  (DIRECT and the other sources are still tried)\n");
    }
    for (const PacRelayAnswer& a : pac.answers) {
      absl::StrAppend(&out, "  ", a.relay, "  ", a.url, "  ->  ",
                      a.error.empty() ? a.returned : absl::StrCat("error: ", a.error), "\n");
      for (const std::string& w : a.routes.warnings)
        absl::StrAppend(&out, "    warning: ", w, "\n");
    }
    for (const std::string& alert : pac.alerts) absl::StrAppend(&out, "  alert(): ", alert, "\n");
  }
  absl::StrAppend(&out, "\nRoutes a diagnosis tries, in order:\n");
  int n = 0;
  for (const ProxyCandidate& c : setup.routes) {
    absl::StrAppend(&out, "  ", ++n, ". ", Describe(c), "\n");
  }
  absl::StrAppend(&out, "  ", ++n, ". direct\n");
  return out;
}

std::string RenderProxySetupJson(const ProxySetup& setup) {
  google::protobuf::Struct root;
  auto& fields = *root.mutable_fields();
  auto* sources = fields["sources"].mutable_list_value();
  for (const SourceReport& source : setup.sources) {
    google::protobuf::Value s;
    auto& f = *s.mutable_struct_value()->mutable_fields();
    f["name"] = Str(source.name);
    f["explicitly_direct"].set_bool_value(source.result.explicitly_direct);
    auto* proxies = f["proxies"].mutable_list_value();
    for (const ProxyCandidate& c : source.result.proxies) *proxies->add_values() = CandidateJson(c);
    auto* pacs = f["pac"].mutable_list_value();
    for (const PacLocation& p : source.result.pac) {
      google::protobuf::Value v;
      (*v.mutable_struct_value()->mutable_fields())["url"] = Str(p.url);
      (*v.mutable_struct_value()->mutable_fields())["detail"] = Str(p.detail);
      *pacs->add_values() = v;
    }
    f["warnings"] = List(source.result.warnings);
    *sources->add_values() = s;
  }
  auto* pacs = fields["pac"].mutable_list_value();
  for (const PacReport& pac : setup.pac) {
    google::protobuf::Value p;
    auto& f = *p.mutable_struct_value()->mutable_fields();
    f["url"] = Str(pac.location.url);
    f["source"] = Str(SourceName(pac.location.source));
    f["error"] = Str(pac.error);
    f["alerts"] = List(pac.alerts);
    auto* answers = f["answers"].mutable_list_value();
    for (const PacRelayAnswer& a : pac.answers) {
      google::protobuf::Value v;
      auto& af = *v.mutable_struct_value()->mutable_fields();
      af["relay"] = Str(a.relay);
      af["url"] = Str(a.url);
      af["returned"] = Str(a.returned);
      af["error"] = Str(a.error);
      af["warnings"] = List(a.routes.warnings);
      *answers->add_values() = v;
    }
    *pacs->add_values() = p;
  }
  auto* routes = fields["routes"].mutable_list_value();
  for (const ProxyCandidate& c : setup.routes) *routes->add_values() = CandidateJson(c);
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(root, &json, options);
  return json;
}

}  // namespace relayscope::agent
