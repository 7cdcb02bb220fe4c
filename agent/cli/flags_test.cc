// Every flag any remedy names exists: the verdict's advice is generated
// over a sweep of attempts covering every outcome, route, phase, proxy
// status, authentication scheme, certificate and DNS finding, and each
// "--flag" it mentions is looked up among the agent's registered flags.
#include "agent/cli/flags.h"

#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/reflection.h"
#include "absl/strings/str_replace.h"
#include "agent/report/verdict.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

// Flags as the user types them ("proxy-user") are registered with
// underscores ("proxy_user"); common/cli.h normalises the spelling.
bool FlagExists(const std::string& name) {
  return absl::FindCommandLineFlag(absl::StrReplaceAll(name, {{"-", "_"}})) != nullptr;
}

std::vector<v1::Attempt> Sweep() {
  std::vector<v1::Attempt> out;
  const std::vector<uint32_t> statuses = {0, 2, 3, 5, 91, 200, 302, 403, 407, 502, 503};
  const std::vector<std::vector<v1::ProxyAuthScheme>> schemes = {
      {}, {v1::PROXY_AUTH_SCHEME_BASIC}, {v1::PROXY_AUTH_SCHEME_NTLM}};
  for (int o = v1::Outcome_MIN; o <= v1::Outcome_MAX; ++o) {
    for (int k = v1::RouteKind_MIN; k <= v1::RouteKind_MAX; ++k) {
      for (int p = v1::Phase_MIN; p <= v1::Phase_MAX; ++p) {
        for (uint32_t status : statuses) {
          for (const auto& offered : schemes) {
            v1::Attempt a;
            a.set_region("emea");
            a.set_relay("emea-1");
            a.set_address("192.0.2.1");
            a.set_port(443);
            a.set_outcome(static_cast<v1::Outcome>(o));
            a.set_route_kind(static_cast<v1::RouteKind>(k));
            a.set_failed_phase(static_cast<v1::Phase>(p));
            a.set_proxy_status(status);
            a.set_detail(status % 2 == 0 ? "R2 is out of range" : "key confirmation failed");
            a.mutable_proxy()->set_host("192.0.2.9");
            a.mutable_proxy()->set_port(3128);
            a.mutable_proxy()->set_source(static_cast<v1::ProxySource>(1 + (o + k) % 10));
            for (auto s : offered) a.mutable_proxy_auth()->add_offered(s);
            if (!offered.empty()) a.mutable_proxy_auth()->set_used(offered[0]);
            if (status == 0) {
              a.mutable_proxy_certificate()->set_issuer("CN=Inspection CA");
              a.mutable_proxy_certificate()->set_custom_ca(p % 2 == 0);
            }
            a.mutable_dns()->set_status(static_cast<v1::DnsEvidence::Status>(p % 5));
            a.mutable_dns()->set_host("relay.example");
            out.push_back(a);
          }
        }
      }
    }
  }
  return out;
}

TEST(AdvisedFlags, EveryFlagTheVerdictCanNameIsRegistered) {
  v1::Catalogue catalogue;
  catalogue.add_regions()->set_id("emea");
  std::set<std::string> named;
  size_t remedies = 0;
  for (const v1::Attempt& a : Sweep()) {
    const v1::Verdict v = ComputeVerdict(catalogue, {a});
    for (const v1::Blocker& b : v.blockers()) {
      ASSERT_FALSE(b.advice().empty()) << b.explanation();
      ++remedies;
      for (const std::string* text : {&b.advice(), &b.explanation()}) {
        static const std::regex kFlag(R"((?:^|[\s(])--([a-z][a-z0-9_-]*))");
        for (std::sregex_iterator m(text->begin(), text->end(), kFlag), end; m != end; ++m) {
          named.insert((*m)[1].str());
        }
      }
    }
  }
  EXPECT_GT(remedies, 1000u);
  // The sweep reaches every flag the verdict code knows it names...
  for (const std::string& flag : AdvisedFlags()) {
    EXPECT_TRUE(FlagExists(flag)) << "--" << flag;
  }
  EXPECT_THAT(named, ::testing::IsSupersetOf({"proxy-user", "proxy-ca"}));
  // ...and names nothing else, and nothing that does not exist.
  for (const std::string& flag : named) {
    EXPECT_TRUE(FlagExists(flag)) << "advice names --" << flag << ", which is not a flag";
    EXPECT_THAT(AdvisedFlags(), ::testing::Contains(flag));
  }
}

// Also what links the flags into this test: they register themselves.
TEST(OptionsFromFlags, ProxyCaReachesTheOptions) {
  EXPECT_EQ(OptionsFromFlags().proxy_ca_file, "");
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag("proxy_ca");
  ASSERT_NE(flag, nullptr);
  std::string error;
  ASSERT_TRUE(flag->ParseFrom("/etc/ssl/inspection-ca.pem", &error)) << error;
  EXPECT_EQ(OptionsFromFlags().proxy_ca_file, "/etc/ssl/inspection-ca.pem");
  ASSERT_TRUE(flag->ParseFrom("", &error)) << error;
}

TEST(AdvisedFlags, TheLookupRejectsAFlagThatDoesNotExist) {
  EXPECT_FALSE(FlagExists("proxy-certificate-authority"));
  EXPECT_TRUE(FlagExists("proxy_user"));
}

}  // namespace
}  // namespace relayscope::agent
