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

// One relay's routes, in order: the --proxy routes, then its own list.
struct ShownRoute {
  std::string kind;   // "direct", "http", "socks5", ...
  std::string proxy;  // redacted URL; empty for direct
  std::string why;
  bool alternative = false;
  std::string bypass_entry;
  std::string bypass_source;
};

std::vector<ShownRoute> RelayRoutesShown(const RelayRoutes& relay,
                                         const std::vector<Route>& flag_routes) {
  std::vector<ShownRoute> shown;
  for (const Route& route : flag_routes) {
    ShownRoute s;
    s.kind = KindName(route.endpoint.kind);
    s.proxy = route.endpoint.Redacted();
    s.why = "--proxy";
    shown.push_back(std::move(s));
  }
  for (const RelayRoute& route : relay.routes) {
    ShownRoute s;
    s.kind = route.direct ? "direct" : KindName(route.proxy.url.kind);
    if (!route.direct) s.proxy = route.proxy.url.Redacted();
    s.why = route.why;
    s.alternative = route.alternative;
    if (route.bypassed) {
      s.bypass_entry = route.bypass_entry;
      s.bypass_source = SourceName(route.bypass_source);
    }
    shown.push_back(std::move(s));
  }
  return shown;
}

}  // namespace

std::string RenderProxySetupText(const ProxySetup& setup, const std::vector<Route>& flag_routes) {
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
      for (const std::string& w : a.limits) absl::StrAppend(&out, "    limit: ", w, "\n");
    }
    for (const std::string& alert : pac.alerts) absl::StrAppend(&out, "  alert(): ", alert, "\n");
  }
  absl::StrAppend(&out, "\nRoutes per relay, in the order its user's software tries them:\n");
  for (const RelayRoutes& relay : setup.relays) {
    absl::StrAppend(&out, "  ", relay.relay, " (", relay.host, ":", relay.port, "):\n");
    int n = 0;
    bool alternatives = false;
    for (const ShownRoute& route : RelayRoutesShown(relay, flag_routes)) {
      if (route.alternative && !alternatives) {
        alternatives = true;
        absl::StrAppend(&out, "    alternatives (tried too, to show what the setting costs):\n");
      }
      const std::string what =
          route.proxy.empty() ? route.kind : absl::StrCat(route.kind, " ", route.proxy);
      if (route.alternative) {
        absl::StrAppend(&out, "    -  ", what, " \u2014 ", route.why, "\n");
      } else {
        absl::StrAppend(&out, "    ", ++n, ". ", what, " \u2014 ", route.why, "\n");
      }
    }
  }
  return out;
}

std::string RenderProxySetupJson(const ProxySetup& setup, const std::vector<Route>& flag_routes) {
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
      af["limits"] = List(a.limits);
      *answers->add_values() = v;
    }
    *pacs->add_values() = p;
  }
  auto* routes = fields["routes"].mutable_list_value();
  for (const ProxyCandidate& c : setup.routes) *routes->add_values() = CandidateJson(c);
  auto* relays = fields["relays"].mutable_list_value();
  for (const RelayRoutes& relay : setup.relays) {
    google::protobuf::Value r;
    auto& f = *r.mutable_struct_value()->mutable_fields();
    f["relay"] = Str(relay.relay);
    f["region"] = Str(relay.region);
    f["host"] = Str(relay.host);
    f["port"].set_number_value(relay.port);
    auto* list = f["routes"].mutable_list_value();
    for (const ShownRoute& route : RelayRoutesShown(relay, flag_routes)) {
      google::protobuf::Value v;
      auto& rf = *v.mutable_struct_value()->mutable_fields();
      rf["kind"] = Str(route.kind);
      rf["proxy"] = Str(route.proxy);
      rf["why"] = Str(route.why);
      rf["role"] = Str(route.alternative ? "alternative" : "configured");
      rf["bypass_entry"] = Str(route.bypass_entry);
      rf["bypass_source"] = Str(route.bypass_source);
      *list->add_values() = v;
    }
    *relays->add_values() = r;
  }
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(root, &json, options);
  return json;
}

}  // namespace relayscope::agent
