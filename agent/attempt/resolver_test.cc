// SystemResolver: real getaddrinfo answers for names this machine knows,
// and a lookup that hangs costs the caller its deadline, not more.
// FakeResolver: scripted answers, errors and hangs on a FakeClock.
#include "agent/attempt/resolver.h"

#include <memory>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "agent/attempt/fake_resolver.h"
#include "common/fake_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(SystemResolver, LiteralsAndLocalhostResolveWithoutTheNetwork) {
  SystemResolver resolver;
  auto v4 = resolver.Resolve("192.0.2.10", absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_THAT(*v4, ElementsAre("192.0.2.10"));
  auto v6 = resolver.Resolve("2001:db8::1", absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_THAT(*v6, ElementsAre("2001:db8::1"));
  // /etc/hosts names localhost on every machine this runs on.
  auto local = resolver.Resolve("localhost", absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_THAT(*local, Contains("127.0.0.1"));
}

TEST(SystemResolver, AnInvalidNameIsAnErrorNamingIt) {
  SystemResolver resolver;
  // ".invalid" is reserved (RFC 6761) and an empty label is never a name:
  // the stub fails it without asking a server.
  auto result = resolver.Resolve("bad..invalid", absl::Now() + absl::Seconds(10));
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("bad..invalid"));
}

TEST(SystemResolver, AHangingLookupCostsTheDeadlineAndNoMore) {
  FakeClock clock;
  // Shared with the lookup thread, which outlives the call it was abandoned by.
  auto release = std::make_shared<absl::Notification>();
  SystemResolver::Options options;
  options.clock = &clock;
  options.lookup = [release](const std::string&) -> absl::StatusOr<std::vector<std::string>> {
    release->WaitForNotification();
    return std::vector<std::string>{"192.0.2.1"};
  };
  SystemResolver resolver(options);
  const absl::Time deadline = clock.Now() + absl::Seconds(3);
  absl::StatusOr<std::vector<std::string>> result;
  std::thread caller([&] { result = resolver.Resolve("relay.example", deadline); });
  clock.AwaitBlocked(1);
  clock.AdvanceTo(deadline);
  caller.join();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(result.status().message(), HasSubstr("relay.example"));
  release->Notify();  // the abandoned lookup ends on its own
}

TEST(SystemResolver, AnAnswerBeforeTheDeadlineIsReturned) {
  FakeClock clock;
  SystemResolver::Options options;
  options.clock = &clock;
  options.lookup = [](const std::string& host) -> absl::StatusOr<std::vector<std::string>> {
    if (host == "missing.example") return absl::NotFoundError("missing.example: no");
    return std::vector<std::string>{"192.0.2.1", "2001:db8::1"};
  };
  SystemResolver resolver(options);
  auto found = resolver.Resolve("relay.example", clock.Now() + absl::Seconds(1));
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_THAT(*found, ElementsAre("192.0.2.1", "2001:db8::1"));
  EXPECT_EQ(resolver.Resolve("missing.example", clock.Now() + absl::Seconds(1)).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(FakeResolver, AnswersErrorsAndHangsAsScripted) {
  FakeClock clock;
  clock.AdvanceOnSleep(true);
  FakeResolver resolver(&clock);
  resolver.Script("relay.example", {"192.0.2.10"}, absl::Milliseconds(30));
  resolver.ScriptError("gone.example", absl::UnavailableError("gone.example: SERVFAIL"));
  resolver.ScriptHang("slow.example");
  const absl::Time t0 = clock.Now();
  auto ok = resolver.Resolve("relay.example", t0 + absl::Seconds(1));
  ASSERT_TRUE(ok.ok());
  EXPECT_THAT(*ok, ElementsAre("192.0.2.10"));
  EXPECT_EQ(clock.Now(), t0 + absl::Milliseconds(30));
  EXPECT_EQ(resolver.Resolve("gone.example", t0 + absl::Seconds(1)).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(resolver.Resolve("unknown.example", t0 + absl::Seconds(1)).status().code(),
            absl::StatusCode::kNotFound);
  absl::StatusOr<std::vector<std::string>> hung;
  std::thread caller([&] { hung = resolver.Resolve("slow.example", t0 + absl::Seconds(2)); });
  clock.AwaitBlocked(1);
  clock.AdvanceTo(t0 + absl::Seconds(2));
  caller.join();
  EXPECT_EQ(hung.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(resolver.asked(),
              ElementsAre("relay.example", "gone.example", "unknown.example", "slow.example"));
}

}  // namespace
}  // namespace relayscope::agent
