// Bypass lists and per-relay PAC answers end to end, as the real agent
// reads a desktop: KDE's kioslaverc under the test's HOME, GNOME through a
// `gsettings` found first on PATH that prints the settings as the real one
// does, and a PAC that answers differently per relay. `relayscope-agent
// proxies` must give each relay its own route list, with each source's
// bypass list read by that source's rules.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/rig/process.h"

namespace relayscope {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class BypassSources : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/relayscope-bypass-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    std::filesystem::create_directories(dir_ + "/home/.config");
    std::filesystem::create_directories(dir_ + "/bin");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A gsettings that prints `settings` for list-recursively, as GNOME's.
  void FakeGsettings(const std::string& settings) {
    std::ofstream(dir_ + "/gsettings.out") << settings;
    const std::string script = dir_ + "/bin/gsettings";
    std::ofstream(script) << "#!/bin/sh\ncat '" << dir_ << "/gsettings.out'\n";
    std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  }

  rig::CommandResult Proxies(const std::string& catalogue, std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/env",
                                     "PATH=" + dir_ + "/bin:/usr/bin:/bin",
                                     "HOME=" + dir_ + "/home",
                                     AGENT_BINARY,
                                     "proxies",
                                     "--catalogue=" + catalogue,
                                     "--proxy-file=" + dir_ + "/no-proxy-file"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto result = rig::RunCommand(argv, absl::Seconds(30));
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : rig::CommandResult{};
  }

  std::string dir_;
};

// The text between a relay's heading and the next relay's.
std::string RelayBlock(const std::string& out, const std::string& relay) {
  const size_t start = out.find("  " + relay + " (");
  if (start == std::string::npos) return "";
  const size_t end = out.find("\n  ", out.find('\n', start));
  size_t next = end;
  while (next != std::string::npos && out.compare(next + 3, 1, " ") == 0) {
    next = out.find("\n  ", next + 1);
  }
  return out.substr(start, next == std::string::npos ? std::string::npos : next - start);
}

TEST_F(BypassSources, KdeAndGnomeListsAndAPerRelayPacGiveEachRelayItsOwnRoutes) {
  std::ofstream(dir_ + "/home/.config/kioslaverc")
      << "[Proxy Settings]\nProxyType=1\nhttpsProxy=http://kdeproxy.corp 3128\n"
         "NoProxyFor=.corp.example\n";
  FakeGsettings(
      "org.gnome.system.proxy mode 'manual'\n"
      "org.gnome.system.proxy ignore-hosts ['localhost', '*.relay.example']\n"
      "org.gnome.system.proxy.https host 'gnomeproxy.corp'\n"
      "org.gnome.system.proxy.https port 8080\n");
  const std::string pac = dir_ + "/per-relay.pac";
  std::ofstream(pac) << "function FindProxyForURL(url, host) {\n"
                        "  if (host == 'emea-1.corp.example') return 'PROXY emeapac.corp:1';\n"
                        "  return 'DIRECT';\n}\n";
  const std::string catalogue = dir_ + "/catalogue.textproto";
  std::ofstream(catalogue)
      << "name: \"bypass\"\n"
         "regions { id: \"emea\" relays { id: \"emea-1\" host: \"Emea-1.Corp.Example\" "
         "addresses: \"192.0.2.10\" ports: [ 8200 ] } }\n"
         "regions { id: \"americas\" relays { id: \"americas-1\" host: "
         "\"americas-1.relay.example\" "
         "addresses: \"192.0.2.20\" ports: [ 443 ] } }\n";

  const rig::CommandResult r = Proxies(catalogue, {"--pac-url=file://" + pac});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The PAC is asked as a browser asks: the host lower-cased.
  EXPECT_THAT(r.output,
              HasSubstr("emea-1  https://emea-1.corp.example:8200/  ->  PROXY emeapac.corp:1"));

  // emea-1: its PAC answer, GNOME's proxy (ignore-hosts does not name it),
  // then DIRECT because KDE's NoProxyFor does; KDE's proxy only as an
  // alternative.
  const std::string emea = RelayBlock(r.output, "emea-1");
  SCOPED_TRACE(r.output);
  EXPECT_THAT(emea, HasSubstr("1. http_connect http://emeapac.corp:1"));
  EXPECT_THAT(emea, HasSubstr("2. http_connect http://gnomeproxy.corp:8080"));
  EXPECT_THAT(emea,
              HasSubstr("3. direct \u2014 bypassed by NoProxyFor entry `.corp.example` (kde)"));
  EXPECT_THAT(emea, HasSubstr("-  http_connect http://kdeproxy.corp:3128"));

  // americas-1: the PAC says DIRECT; GNOME's glob "*.relay.example" skips
  // GNOME's proxy; KDE's proxy is used.
  const std::string americas = RelayBlock(r.output, "americas-1");
  EXPECT_THAT(americas, HasSubstr("1. direct \u2014 PAC file://" + pac + " answered \"DIRECT\""));
  EXPECT_THAT(americas, HasSubstr("2. http_connect http://kdeproxy.corp:3128"));
  EXPECT_THAT(americas, HasSubstr("-  http_connect http://gnomeproxy.corp:8080"));
  EXPECT_THAT(americas, HasSubstr("ignore-hosts entry `*.relay.example`"));
}

// KDE's ReversedException: only the listed hosts use the proxy.
TEST_F(BypassSources, KdeReversedExceptionProxiesOnlyTheListedRelay) {
  std::ofstream(dir_ + "/home/.config/kioslaverc")
      << "[Proxy Settings]\nProxyType=1\nhttpsProxy=http://kdeproxy.corp 3128\n"
         "NoProxyFor=emea-1.corp.example\nReversedException=true\n";
  const std::string catalogue = dir_ + "/catalogue.textproto";
  std::ofstream(catalogue)
      << "name: \"bypass\"\n"
         "regions { id: \"emea\" relays { id: \"emea-1\" host: \"emea-1.corp.example\" "
         "ports: [ 8200 ] } }\n"
         "regions { id: \"americas\" relays { id: \"americas-1\" host: "
         "\"americas-1.relay.example\" "
         "ports: [ 443 ] } }\n";
  const rig::CommandResult r = Proxies(catalogue, {});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  SCOPED_TRACE(r.output);
  EXPECT_THAT(RelayBlock(r.output, "emea-1"),
              HasSubstr("1. http_connect http://kdeproxy.corp:3128"));
  EXPECT_THAT(
      RelayBlock(r.output, "americas-1"),
      HasSubstr("1. direct \u2014 bypassed: not listed in NoProxyFor with ReversedException"));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("is not supported")));
}

// PAC files browsers run, through the real agent and its sandbox: one
// with a Latin-1 byte and no charset (a Microsoft ISA script's comment),
// and a long rule list (4,000 shExpMatch rules; the 16,000-rule case is
// PacLimitsTest, whose time budget can be scaled for the sanitized build) answered for three
// relays, each within its own time budget.
TEST_F(BypassSources, ALatin1PacAndALongRuleListPacAreAnsweredForEveryRelay) {
  const std::string catalogue = dir_ + "/catalogue.textproto";
  std::ofstream(catalogue)
      << "name: \"big\"\n"
         "regions { id: \"emea\" relays { id: \"emea-1\" host: \"emea-1.relay.example\" "
         "addresses: \"192.0.2.10\" ports: [ 443 ] } }\n"
         "regions { id: \"apac\" relays { id: \"apac-1\" host: \"apac-1.relay.example\" "
         "addresses: \"192.0.2.20\" ports: [ 443 ] } }\n"
         "regions { id: \"americas\" relays { id: \"americas-1\" host: "
         "\"americas-1.relay.example\" addresses: \"192.0.2.30\" ports: [ 443 ] } }\n";

  const std::string latin1 = dir_ + "/latin1.pac";
  std::ofstream(latin1, std::ios::binary)
      << "// Proxy f\xfcr die Zweigstelle M\xfcnchen (\xa9 ISA Server)\n"
         "function FindProxyForURL(url, host) { return 'PROXY isa.corp:8080'; }\n";
  const rig::CommandResult small = Proxies(catalogue, {"--pac-url=file://" + latin1});
  SCOPED_TRACE(small.output);
  EXPECT_EQ(small.exit_code, 0);
  EXPECT_THAT(small.output, Not(HasSubstr("decode")));
  for (const char* relay : {"emea-1", "apac-1", "americas-1"}) {
    EXPECT_THAT(RelayBlock(small.output, relay), HasSubstr("1. http_connect http://isa.corp:8080"));
  }

  const std::string big = dir_ + "/gfwlist.pac";
  {
    std::ofstream out(big);
    out << "var rules = [\n";
    for (int i = 0; i < 4000; ++i) out << "  \"*.blocked" << i << ".example\",\n";
    out << "  \"apac-1.relay.*\"];\n"
           "function FindProxyForURL(url, host) {\n"
           "  for (var i = 0; i < rules.length; i++)\n"
           "    if (shExpMatch(host, rules[i])) return 'PROXY gfw.corp:1080';\n"
           "  return 'DIRECT';\n}\n";
  }
  const rig::CommandResult r = Proxies(catalogue, {"--pac-url=file://" + big});
  SCOPED_TRACE(r.output);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.output, Not(HasSubstr("ran longer")));
  EXPECT_THAT(RelayBlock(r.output, "apac-1"), HasSubstr("1. http_connect http://gfw.corp:1080"));
  EXPECT_THAT(RelayBlock(r.output, "emea-1"), HasSubstr("1. direct"));
  EXPECT_THAT(RelayBlock(r.output, "americas-1"), HasSubstr("1. direct"));
}

}  // namespace
}  // namespace relayscope
