#include "relay/relay_catalogue.h"

#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace relayscope::relay {
namespace {

using ::testing::ElementsAre;

v1::Catalogue Catalogue() {
  v1::Catalogue catalogue;
  google::protobuf::TextFormat::ParseFromString(
      R"pb(regions {
             id: "emea"
             relays {
               id: "emea-1"
               addresses: [ "127.0.0.2", "::1" ]
               ports: [ 8200, 443 ]
             }
           })pb",
      &catalogue);
  return catalogue;
}

TEST(ListenAddressesOf, EveryAddressOnEveryPortWithIpv6Bracketed) {
  auto listen = ListenAddressesOf(Catalogue(), "emea-1", "demo.textproto");
  ASSERT_TRUE(listen.ok()) << listen.status();
  EXPECT_THAT(*listen, ElementsAre("127.0.0.2:8200", "127.0.0.2:443", "[::1]:8200", "[::1]:443"));
}

TEST(ListenAddressesOf, UnknownRelayIsNotFoundNamingTheCatalogue) {
  auto listen = ListenAddressesOf(Catalogue(), "apac-9", "demo.textproto");
  EXPECT_EQ(listen.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(listen.status().message(), "no relay \"apac-9\" in demo.textproto");
}

}  // namespace
}  // namespace relayscope::relay
