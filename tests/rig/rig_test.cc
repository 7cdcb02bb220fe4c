// Each rig fixture proven against a real client: what the rig claims about
// squid, dante, the interceptor, iptables and the listeners is what a
// client actually meets.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <poll.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/rig/dante.h"
#include "tests/rig/firewall.h"
#include "tests/rig/fixture.h"
#include "tests/rig/hosts_override.h"
#include "tests/rig/interceptor.h"
#include "tests/rig/net.h"
#include "tests/rig/process.h"
#include "tests/rig/squid.h"

namespace relayscope::rig {
namespace {

using ::testing::Contains;
using ::testing::ContainsRegex;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

struct TunnelResult {
  CURLcode code = CURLE_OK;
  long connect_code = 0;  // the proxy's HTTP answer to CONNECT
  std::string echoed;     // what came back after sending "ping" through
};

// Opens a tunnel to target_host:target_port through `proxy` (a libcurl
// proxy URL such as "http://127.0.0.1:3128" or "socks5://127.0.0.1:1080"),
// sends "ping" and reads the answer.
TunnelResult Tunnel(const std::string& proxy, const std::string& target_host, uint16_t target_port,
                    const std::string& user = "", const std::string& password = "") {
  TunnelResult result;
  CURL* curl = curl_easy_init();
  const std::string url = absl::StrCat("http://", target_host, ":", target_port, "/");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROXY, proxy.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPPROXYTUNNEL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECT_ONLY, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (!user.empty()) {
    curl_easy_setopt(curl, CURLOPT_PROXYUSERNAME, user.c_str());
    curl_easy_setopt(curl, CURLOPT_PROXYPASSWORD, password.c_str());
    curl_easy_setopt(curl, CURLOPT_PROXYAUTH, static_cast<long>(CURLAUTH_BASIC));
  }
  result.code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_HTTP_CONNECTCODE, &result.connect_code);
  if (result.code == CURLE_OK) {
    size_t sent = 0;
    curl_easy_send(curl, "ping", 4, &sent);
    curl_socket_t fd = CURL_SOCKET_BAD;
    curl_easy_getinfo(curl, CURLINFO_ACTIVESOCKET, &fd);
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (result.echoed.size() < 4 && absl::Now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      poll(&p, 1, 100);
      char buf[16];
      size_t n = 0;
      if (curl_easy_recv(curl, buf, sizeof(buf), &n) == CURLE_OK) {
        if (n == 0) break;
        result.echoed.append(buf, n);
      }
    }
  }
  curl_easy_cleanup(curl);
  return result;
}

class RigComponents : public RigTest {};

TEST_F(RigComponents, NamespaceIsPrivateAndLoopbackIsUp) {
  // Any 127/8 address works on lo in the new namespace.
  auto echo = StartEchoListener("127.0.42.7", 0);
  ASSERT_TRUE(echo.ok()) << echo.status();
  auto fd = ConnectWithDeadline("127.0.42.7", (*echo)->port(), absl::Now() + absl::Seconds(1));
  ASSERT_TRUE(fd.ok()) << fd.status();
  close(*fd);
  // The namespace is new: nothing from the host listens in it (the host's
  // loopback services, if any, are invisible here).
  auto ip = RunCommand({"/usr/sbin/ip", "-o", "link"});
  ASSERT_TRUE(ip.ok());
  EXPECT_THAT(ip->output, HasSubstr("lo:"));
  EXPECT_THAT(ip->output, Not(HasSubstr("eth0")));
  auto ss = RunCommand({"/usr/bin/ss", "-Htln"});
  ASSERT_TRUE(ss.ok());
  // Only our own echo listener.
  EXPECT_THAT(ss->output, HasSubstr(absl::StrCat("127.0.42.7:", (*echo)->port())));
  EXPECT_EQ(std::count(ss->output.begin(), ss->output.end(), '\n'), 1) << ss->output;
}

TEST_F(RigComponents, EchoListenerEchoesAndCountsConnectionsOnIpv4AndIpv6) {
  for (const char* address : {"127.0.0.1", "::1"}) {
    auto echo = StartEchoListener(address, 0);
    ASSERT_TRUE(echo.ok()) << echo.status();
    auto fd = ConnectWithDeadline(address, (*echo)->port(), absl::Now() + absl::Seconds(1));
    ASSERT_TRUE(fd.ok()) << fd.status();
    ASSERT_TRUE(WriteAll(*fd, "hello"));
    EXPECT_EQ(ReadUpTo(*fd, 5, absl::Now() + absl::Seconds(2)), "hello");
    close(*fd);
    EXPECT_EQ((*echo)->accepted(), 1);
  }
}

TEST_F(RigComponents, SquidAnswersProxyAuthRequiredUntilCredentialsAreRight) {
  auto echo = StartEchoListener("127.0.10.1", 8200);
  ASSERT_TRUE(echo.ok()) << echo.status();
  Squid::Options options;
  options.address = "127.0.20.1";
  options.users = {{"alice", "s3cret-Pa55"}};
  auto squid = Squid::Start(options, dir());
  ASSERT_TRUE(squid.ok()) << squid.status();

  TunnelResult none = Tunnel((*squid)->Url(), "127.0.10.1", 8200);
  EXPECT_EQ(none.connect_code, 407);
  EXPECT_NE(none.code, CURLE_OK);
  TunnelResult wrong = Tunnel((*squid)->Url(), "127.0.10.1", 8200, "alice", "wrong");
  EXPECT_EQ(wrong.connect_code, 407);
  TunnelResult right = Tunnel((*squid)->Url(), "127.0.10.1", 8200, "alice", "s3cret-Pa55");
  EXPECT_EQ(right.code, CURLE_OK);
  EXPECT_EQ(right.connect_code, 200);
  EXPECT_EQ(right.echoed, "ping");
  EXPECT_EQ((*echo)->accepted(), 1);  // only the authenticated CONNECT got through
}

TEST_F(RigComponents, SquidRedirectsConnectToChosenPortsAndTunnelsOthers) {
  auto echo_ok = StartEchoListener("127.0.10.1", 8200);
  auto echo_redirected = StartEchoListener("127.0.10.1", 8443);
  ASSERT_TRUE(echo_ok.ok() && echo_redirected.ok());
  Squid::Options options;
  options.address = "127.0.20.1";
  options.redirect_ports = {8443};
  auto squid = Squid::Start(options, dir());
  ASSERT_TRUE(squid.ok()) << squid.status();

  TunnelResult redirected = Tunnel((*squid)->Url(), "127.0.10.1", 8443);
  EXPECT_EQ(redirected.connect_code, 302);
  EXPECT_EQ((*echo_redirected)->accepted(), 0);
  TunnelResult open = Tunnel((*squid)->Url(), "127.0.10.1", 8200);
  EXPECT_EQ(open.connect_code, 200);
  EXPECT_EQ(open.echoed, "ping");
  EXPECT_THAT((*squid)->WaitForAccessLog("TCP_TUNNEL/200"),
              ContainsRegex("TCP_TUNNEL/200 [0-9]+ CONNECT 127\\.0\\.10\\.1:8200 "));
  EXPECT_THAT((*squid)->WaitForAccessLog("TCP_DENIED/302"),
              ContainsRegex("TCP_DENIED/302 [0-9]+ CONNECT 127\\.0\\.10\\.1:8443 "));
}

TEST_F(RigComponents, DanteTunnelsSocks5AndSocks4ToTheTarget) {
  auto echo = StartEchoListener("127.0.10.1", 8200);
  ASSERT_TRUE(echo.ok()) << echo.status();
  Dante::Options options;
  options.address = "127.0.30.1";
  auto dante = Dante::Start(options, dir());
  ASSERT_TRUE(dante.ok()) << dante.status();
  for (const char* scheme : {"socks5", "socks4"}) {
    TunnelResult r = Tunnel(absl::StrCat(scheme, "://127.0.30.1:1080"), "127.0.10.1", 8200);
    EXPECT_EQ(r.code, CURLE_OK) << scheme << ": " << curl_easy_strerror(r.code);
    EXPECT_EQ(r.echoed, "ping") << scheme;
  }
  EXPECT_EQ((*echo)->accepted(), 2);
  // A closed target port is reported by the SOCKS server, not hidden.
  TunnelResult refused = Tunnel("socks5://127.0.30.1:1080", "127.0.10.1", 9);
  EXPECT_EQ(refused.code, CURLE_PROXY);
}

TEST_F(RigComponents, InterceptorAnswersHandshakeBytesWithTheSeedsHttp400Page) {
  Interceptor::Options options;
  options.address = "127.0.40.1";
  options.port = 8080;
  options.read_bytes = 768;
  auto interceptor = Interceptor::Start(options);
  ASSERT_TRUE(interceptor.ok()) << interceptor.status();
  auto fd = ConnectWithDeadline("127.0.40.1", 8080, absl::Now() + absl::Seconds(1));
  ASSERT_TRUE(fd.ok()) << fd.status();
  // Three 256-byte binary fields, like the relay handshake.
  std::string handshake(768, '\0');
  for (size_t i = 0; i < handshake.size(); ++i) handshake[i] = static_cast<char>(i * 7 + 1);
  ASSERT_TRUE(WriteAll(*fd, handshake));
  std::string reply = ReadUpTo(*fd, 4096, absl::Now() + absl::Seconds(3));
  close(*fd);
  EXPECT_THAT(reply, StartsWith("HTTP/1.0 400 Bad Request\r\n"));
  EXPECT_THAT(reply, HasSubstr("<TITLE>Request Error</TITLE>"));
  EXPECT_EQ((*interceptor)->connections(), 1);
}

TEST_F(RigComponents, SilentInterceptorAcceptsAndNeverAnswers) {
  Interceptor::Options options;
  options.mode = Interceptor::Mode::kSilent;
  auto interceptor = Interceptor::Start(options);
  ASSERT_TRUE(interceptor.ok()) << interceptor.status();
  auto fd =
      ConnectWithDeadline("127.0.0.1", (*interceptor)->port(), absl::Now() + absl::Seconds(1));
  ASSERT_TRUE(fd.ok()) << fd.status();  // the TCP handshake completes
  ASSERT_TRUE(WriteAll(*fd, std::string(768, 'x')));
  EXPECT_EQ(ReadUpTo(*fd, 1, absl::Now() + absl::Milliseconds(300)), "");
  close(*fd);
}

TEST_F(RigComponents, FixedReplyInterceptorSendsExactlyItsBytes) {
  Interceptor::Options options;
  options.mode = Interceptor::Mode::kFixedReply;
  options.reply = std::string(100, '\x42');  // e.g. a truncated relay reply
  auto interceptor = Interceptor::Start(options);
  ASSERT_TRUE(interceptor.ok()) << interceptor.status();
  auto fd =
      ConnectWithDeadline("127.0.0.1", (*interceptor)->port(), absl::Now() + absl::Seconds(1));
  ASSERT_TRUE(fd.ok());
  ASSERT_TRUE(WriteAll(*fd, "x"));
  EXPECT_EQ(ReadUpTo(*fd, 4096, absl::Now() + absl::Seconds(2)), options.reply);
  close(*fd);
}

TEST_F(RigComponents, FirewallDropMakesAPortTimeOut) {
  auto echo = StartEchoListener("127.0.50.1", 8200);
  ASSERT_TRUE(echo.ok());
  Firewall firewall;
  ASSERT_TRUE(firewall.Drop("127.0.50.1", 8200).ok());
  const absl::Time start = absl::Now();
  auto fd = ConnectWithDeadline("127.0.50.1", 8200, start + absl::Milliseconds(300));
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kDeadlineExceeded) << fd.status();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(290));
  EXPECT_EQ((*echo)->accepted(), 0);
  // Removing the rule restores the port: the listener was there all along.
  firewall.Clear();
  auto after = ConnectWithDeadline("127.0.50.1", 8200, absl::Now() + absl::Seconds(1));
  ASSERT_TRUE(after.ok()) << after.status();
  close(*after);
}

TEST_F(RigComponents, FirewallRejectRefusesAtOnceOnIpv4AndIpv6) {
  for (const char* address : {"127.0.50.2", "::1"}) {
    auto echo = StartEchoListener(address, 8443);
    ASSERT_TRUE(echo.ok()) << echo.status();
    Firewall firewall;
    ASSERT_TRUE(firewall.Reject(address, 8443).ok());
    const absl::Time start = absl::Now();
    auto fd = ConnectWithDeadline(address, 8443, start + absl::Seconds(2));
    EXPECT_EQ(fd.status().code(), absl::StatusCode::kUnavailable) << address;
    EXPECT_THAT(std::string(fd.status().message()), StartsWith("ECONNREFUSED")) << address;
    EXPECT_LT(absl::Now() - start, absl::Milliseconds(100)) << address;
    EXPECT_EQ((*echo)->accepted(), 0);
  }
}

TEST_F(RigComponents, StoppedDaemonLeavesNoProcessBehind) {
  Squid::Options options;
  options.address = "127.0.20.9";
  options.users = {{"bob", "pw"}};  // squid forks auth helpers too
  auto squid = Squid::Start(options, dir());
  ASSERT_TRUE(squid.ok()) << squid.status();
  const pid_t pgid = (*squid)->process().pid();
  // Make squid start its helpers.
  Tunnel((*squid)->Url(), "127.0.10.1", 1, "bob", "pw");
  const absl::Time start = absl::Now();
  (*squid)->process().Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(6));
  // No member of the process group survives.
  EXPECT_EQ(kill(-pgid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

// Resolves `name` with the real getaddrinfo: its addresses, or the error.
std::vector<std::string> Lookup(const std::string& name, int* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  *error = getaddrinfo(name.c_str(), nullptr, &hints, &list);
  std::vector<std::string> out;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* raw =
        ai->ai_family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr)
            : &reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr;
    inet_ntop(ai->ai_family, raw, text, sizeof(text));
    out.emplace_back(text);
  }
  if (list != nullptr) freeaddrinfo(list);
  return out;
}

std::string ReadEtcHosts() {
  std::ifstream in("/etc/hosts");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_F(RigComponents, HostsOverrideAnswersTheTestsNamesInThisThreadAndItsChildrenThenIsUndone) {
  const std::string before = ReadEtcHosts();
  int error = 0;
  EXPECT_NE((Lookup("relay.sinkhole.test", &error), error), 0) << "the name exists without us";
  {
    auto hosts = HostsOverride::Start(
        {{"relay.sinkhole.test", "0.0.0.0"}, {"relay.good.test", "127.0.12.1"}}, dir());
    ASSERT_TRUE(hosts.ok()) << hosts.status();
    EXPECT_THAT(Lookup("relay.sinkhole.test", &error), ElementsAre("0.0.0.0"));
    EXPECT_EQ(error, 0);
    EXPECT_THAT(Lookup("relay.good.test", &error), ElementsAre("127.0.12.1"));
    EXPECT_THAT(Lookup("localhost", &error), Contains("127.0.0.1"));
    // Threads started from here on (the agent's resolver threads) see it.
    std::vector<std::string> from_thread;
    std::thread([&] {
      int e = 0;
      from_thread = Lookup("relay.sinkhole.test", &e);
    }).join();
    EXPECT_THAT(from_thread, ElementsAre("0.0.0.0"));
    // So do processes.
    auto getent = RunCommand({"/usr/bin/getent", "hosts", "relay.sinkhole.test"});
    ASSERT_TRUE(getent.ok());
    EXPECT_THAT(getent->output, HasSubstr("0.0.0.0"));
  }
  EXPECT_EQ(ReadEtcHosts(), before);
  Lookup("relay.sinkhole.test", &error);
  EXPECT_NE(error, 0);
}

}  // namespace
}  // namespace relayscope::rig
