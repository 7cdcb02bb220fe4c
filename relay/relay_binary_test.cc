// The real relayscope-relay binary: starts, serves a handshake, exposes its
// metrics and stops cleanly on SIGTERM.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/handshake/handshake.h"
#include "tests/rig/net.h"
#include "tests/rig/process.h"
#include "tests/support/wait_until.h"

namespace relayscope {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

std::string HttpGet(const std::string& url) {
  std::string body;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 5L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  return body;
}

TEST(RelayBinary, ServesAHandshakeExposesMetricsAndStopsOnSigterm) {
  const std::string dir = std::filesystem::temp_directory_path() /
                          ("relayscope-relay-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string ready = dir + "/ready";
  rig::Process::Options options;
  options.argv = {RELAY_BINARY, "--listen=127.0.0.1:0", "--metrics=127.0.0.1:0",
                  "--ready_file=" + ready};
  options.log_path = dir + "/relay.log";
  auto relay = rig::Process::Start(options);
  ASSERT_TRUE(relay.ok()) << relay.status();

  const absl::Status up = rig::WaitForFile(ready, absl::Seconds(10), relay->get());
  ASSERT_TRUE(up.ok()) << up;
  std::vector<std::string> lines = absl::StrSplit(ReadFile(ready), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << ReadFile(ready);
  const std::string address = lines[0];
  ASSERT_TRUE(absl::StartsWith(lines[1], "metrics="));
  const std::string metrics = lines[1].substr(8);

  // One real handshake.
  const size_t colon = address.rfind(':');
  auto fd = rig::ConnectWithDeadline(address.substr(0, colon),
                                     static_cast<uint16_t>(std::stoi(address.substr(colon + 1))),
                                     absl::Now() + absl::Seconds(2));
  ASSERT_TRUE(fd.ok()) << fd.status();
  auto client = handshake::Client::Create();
  ASSERT_TRUE(client.ok());
  const auto& hello = (*client)->Hello();
  ASSERT_TRUE(rig::WriteAll(
      *fd, absl::string_view(reinterpret_cast<const char*>(hello.data()), hello.size())));
  const std::string reply =
      rig::ReadUpTo(*fd, handshake::kReplySize, absl::Now() + absl::Seconds(5));
  absl::StatusOr<handshake::Bytes> confirmation = (*client)->VerifyReply(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(reply.data()), reply.size()));
  ASSERT_TRUE(confirmation.ok()) << confirmation.status();
  ASSERT_TRUE(
      rig::WriteAll(*fd, absl::string_view(reinterpret_cast<const char*>(confirmation->data()),
                                           confirmation->size())));
  rig::ReadUpTo(*fd, 1, absl::Now() + absl::Seconds(2));  // relay closes
  close(*fd);

  std::string scraped;
  test::WaitUntil(
      [&] {
        scraped = HttpGet("http://" + metrics + "/metrics");
        return scraped.find("result=\"ok\"} 1") != std::string::npos;
      },
      absl::Seconds(3), absl::ZeroDuration());
  EXPECT_THAT(scraped, HasSubstr("relayscope_relay_handshakes_total{result=\"ok\"} 1"));
  EXPECT_THAT(scraped, HasSubstr("relayscope_relay_handshake_duration_seconds_count 1"));
  EXPECT_THAT((*relay)->LogTail(), HasSubstr("event=handshake"));
  EXPECT_THAT((*relay)->LogTail(), HasSubstr("result=ok"));

  kill((*relay)->pid(), SIGTERM);
  const absl::Time stop_start = absl::Now();
  test::WaitUntil([&] { return !(*relay)->Running(); }, absl::Seconds(5), absl::Milliseconds(10));
  // The relay itself stops in milliseconds; civetweb, behind prometheus-cpp's
  // Exposer, needs about 1.5 s to leave its poll loop.
  EXPECT_LT(absl::Now() - stop_start, absl::Seconds(3));
  const int status = (*relay)->Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  std::filesystem::remove_all(dir);
}

TEST(RelayBinary, UnknownRelayIdIsAClearErrorNotACrash) {
  auto result =
      rig::RunCommand({RELAY_BINARY, "--catalogue=" RELAYSCOPE_DEMO_CATALOGUE, "--relay=nope"});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->exit_code, 1);
  EXPECT_THAT(result->output, HasSubstr("no relay \"nope\""));
}

}  // namespace
}  // namespace relayscope
