// The agent's reading of no_proxy against the real curl binary: for each
// case, curl fetches https://<host>:<port>/ with https_proxy pointed at a
// listener on loopback and no_proxy set; whether that listener was asked
// (CONNECT) is whether curl used the proxy, and the agent's decision
// (curl 7.88's rules, agent/discovery/no_proxy.h) must be the same. Names
// reach a second listener through --resolve when curl goes direct, so a
// direct fetch is seen too, not only inferred from silence.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/discovery/config_text.h"
#include "agent/discovery/no_proxy.h"
#include "gtest/gtest.h"
#include "tests/rig/fixture.h"
#include "tests/rig/net.h"
#include "tests/rig/process.h"

namespace relayscope {
namespace {

struct Case {
  std::string no_proxy;  // the environment value, verbatim
  std::string host;      // as in the URL (IPv6 in brackets)
};

// Answers anything with a 502 and closes: enough for curl to give up.
std::unique_ptr<rig::Listener> Answering502(const std::string& address) {
  auto listener = rig::Listener::Start(address, 0, [](int fd, const std::atomic<bool>&) {
    rig::ReadUpTo(fd, 1, absl::Now() + absl::Seconds(2));
    rig::WriteAll(fd, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
  });
  EXPECT_TRUE(listener.ok()) << listener.status();
  return listener.ok() ? *std::move(listener) : nullptr;
}

bool IsName(const std::string& host) {
  return host.front() != '[' && host.find_first_not_of("0123456789.") != std::string::npos;
}

// In a network namespace of its own: the direct listener takes every
// loopback address (0.0.0.0), which must not be this machine's.
class NoProxyCurlDifferential : public rig::RigTest {};

TEST_F(NoProxyCurlDifferential, AgentDecidesAsCurl788ForEveryCase) {
  const std::vector<Case> cases = {
      {"example.com", "example.com"},
      {"example.com", "a.b.example.com"},
      {"example.com", "badexample.com"},
      {"EXAMPLE.COM", "www.example.com"},
      {".corp.example", "wiki.corp.example"},
      {".corp.example", "corp.example"},
      {"*.example.com", "a.example.com"},        // curl 7.88: no wildcards
      {"relay.example:443", "relay.example"},    // curl 7.88: no ports
      {"example.com.", "www.example.com"},       // trailing dot in the entry
      {"example.com", "www.example.com."},       // trailing dot in the host
      {"a.example b.example", "b.example"},      // blank-separated
      {"a.example,,  ,b.example", "b.example"},  // empty entries
      {"localhost,127.0.0.0/8", "127.0.0.5"},    // IPv4 CIDR
      {"127.0.0.5", "127.0.0.5"},
      {"127.0.0.6", "127.0.0.5"},
      {"127.0.0.0/33", "127.0.0.5"},  // junk prefix
      {"*", "anything.example"},
      {"foo.example,*", "anything.example"},  // "*" only as the whole value
      {" *", "anything.example"},
      {"<local>", "intranet"},  // no <local> in curl
      {"intranet", "intranet"},
      {"::1", "[::1]"},  // IPv6 compared as text
      {"[::1]", "[::1]"},
      {"::/0", "[::1]"},
  };
  auto proxy = Answering502("127.0.0.1");
  auto direct = Answering502("0.0.0.0");
  ASSERT_TRUE(proxy && direct);
  const std::string proxy_url = absl::StrCat("http://127.0.0.1:", proxy->port());
  const uint16_t port = direct->port();
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat("no_proxy=\"", c.no_proxy, "\" host ", c.host));
    const int proxy_before = proxy->accepted();
    const int direct_before = direct->accepted();
    std::vector<std::string> argv = {"/usr/bin/curl",     "-s", "-k", "-o", "/dev/null",
                                     "--connect-timeout", "2",  "-m", "4"};
    if (IsName(c.host)) {
      // The name as written and without a trailing dot: curl looks up
      // either, depending on the release.
      std::string name = c.host;
      if (name.back() == '.') name.pop_back();
      for (const std::string& n : {name, c.host}) {
        argv.push_back("--resolve");
        argv.push_back(absl::StrCat(n, ":", port, ":127.0.0.1"));
      }
    }
    argv.push_back(absl::StrCat("https://", c.host, ":", port, "/"));
    auto ran = rig::RunCommand(
        argv, absl::Seconds(10),
        {"https_proxy=" + proxy_url, "http_proxy=" + proxy_url, "no_proxy=" + c.no_proxy});
    ASSERT_TRUE(ran.ok()) << ran.status();
    const bool curl_used_proxy = proxy->accepted() > proxy_before;
    if (!curl_used_proxy && IsName(c.host)) {
      EXPECT_GT(direct->accepted(), direct_before)
          << "curl neither proxied nor went direct: " << ran->output;
    }
    // The agent, on the host as curl has it (brackets stripped).
    std::string host = c.host;
    if (host.front() == '[') host = host.substr(1, host.size() - 2);
    EXPECT_EQ(agent::CurlNoProxyMatch(c.no_proxy, host).has_value(), !curl_used_proxy)
        << "curl exit " << ran->exit_code << ": " << ran->output;
    // And as the environment source keeps the list (entries split on
    // commas and blanks, the value's surrounding blanks gone, so " *" is
    // read as the whole value "*": the one case it cannot tell apart).
    if (c.no_proxy != " *") {
      const std::vector<std::string> entries = agent::SplitList(c.no_proxy, ", \t");
      EXPECT_EQ(agent::BypassesProxy(entries, host, port), !curl_used_proxy);
    }
  }
}

}  // namespace
}  // namespace relayscope
