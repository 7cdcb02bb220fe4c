// The DNS check's judgement: consistent, failed, sinkhole (unless the
// catalogue lists that address itself) and unexpected answers.
#include "agent/attempt/dns_check.h"

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace relayscope::agent {
namespace {

using ::testing::ElementsAre;
using Status = v1::DnsEvidence;

TEST(DnsCheck, EveryAnswerListedIsConsistentComparedAsAddresses) {
  const v1::DnsEvidence e = CheckDns("relay.example", {"192.0.2.10", "2001:db8::1"},
                                     std::vector<std::string>{"2001:DB8:0::1", "192.0.2.10"});
  EXPECT_EQ(e.status(), Status::STATUS_CONSISTENT);
  EXPECT_EQ(e.host(), "relay.example");
  EXPECT_THAT(e.answers(), ElementsAre("2001:DB8:0::1", "192.0.2.10"));
  EXPECT_EQ(e.error(), "");
}

TEST(DnsCheck, AnErrorOrNoAnswerIsFailedWithTheResolversWords) {
  const v1::DnsEvidence e =
      CheckDns("relay.example", {"192.0.2.10"},
               absl::NotFoundError("relay.example: Name or service not known"));
  EXPECT_EQ(e.status(), Status::STATUS_FAILED);
  EXPECT_EQ(e.error(), "relay.example: Name or service not known");
  EXPECT_EQ(e.answers_size(), 0);
  EXPECT_EQ(CheckDns("h", {"192.0.2.10"}, std::vector<std::string>{}).status(),
            Status::STATUS_FAILED);
  const v1::DnsEvidence long_error =
      CheckDns("h", {}, absl::UnavailableError(std::string(1000, 'x')));
  EXPECT_EQ(long_error.error().size(), 256u);
}

TEST(DnsCheck, SinkholeAnswersAreNamedUnlessTheCatalogueListsThem) {
  for (const char* sinkhole : {"0.0.0.0", "0.1.2.3", "127.0.0.1", "127.9.9.9", "169.254.1.1",
                               "::", "::1", "fe80::1", "febf::1", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(IsSinkholeAddress(sinkhole)) << sinkhole;
    const v1::DnsEvidence e =
        CheckDns("relay.example", {"192.0.2.10"}, std::vector<std::string>{"192.0.2.10", sinkhole});
    EXPECT_EQ(e.status(), Status::STATUS_SINKHOLE) << sinkhole;
  }
  for (const char* normal : {"192.0.2.10", "8.8.8.8", "10.0.0.1", "1.0.0.0", "169.255.0.1",
                             "2001:db8::1", "fec0::1", "::2", "not an address", ""}) {
    EXPECT_FALSE(IsSinkholeAddress(normal)) << normal;
  }
  // The rig lists loopback relays: their own address is no sinkhole.
  EXPECT_EQ(CheckDns("relay.test", {"127.0.11.1"}, std::vector<std::string>{"127.0.11.1"}).status(),
            Status::STATUS_CONSISTENT);
  // A sinkhole beside an unexpected answer is still a sinkhole.
  EXPECT_EQ(
      CheckDns("h", {"192.0.2.10"}, std::vector<std::string>{"203.0.113.5", "0.0.0.0"}).status(),
      Status::STATUS_SINKHOLE);
}

TEST(DnsCheck, UnlistedPublicAnswersAreUnexpected) {
  const v1::DnsEvidence e = CheckDns("relay.example", {"192.0.2.10"},
                                     std::vector<std::string>{"192.0.2.10", "203.0.113.5"});
  EXPECT_EQ(e.status(), Status::STATUS_UNEXPECTED);
  EXPECT_THAT(e.answers(), ElementsAre("192.0.2.10", "203.0.113.5"));
}

TEST(DnsCheck, AnswersAreKeptToSixteen) {
  std::vector<std::string> many;
  for (int i = 0; i < 20; ++i) many.push_back("198.51.100." + std::to_string(i));
  const v1::DnsEvidence e = CheckDns("h", {"192.0.2.10"}, many);
  EXPECT_EQ(e.answers_size(), 16);
  EXPECT_EQ(e.status(), Status::STATUS_UNEXPECTED);
}

}  // namespace
}  // namespace relayscope::agent
