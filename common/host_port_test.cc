#include "common/host_port.h"

#include "gtest/gtest.h"

namespace relayscope {
namespace {

TEST(HostPort, BracketsIpv6LiteralsOnly) {
  EXPECT_EQ(HostPort("relay.example", 8200), "relay.example:8200");
  EXPECT_EQ(HostPort("203.0.113.7", 443), "203.0.113.7:443");
  EXPECT_EQ(HostPort("2001:db8::10", 443), "[2001:db8::10]:443");
  EXPECT_EQ(HostPort("::1", 80), "[::1]:80");
}

TEST(HostPort, AnAlreadyBracketedHostIsNotBracketedTwice) {
  EXPECT_EQ(UrlHost("[2001:db8::10]"), "[2001:db8::10]");
  EXPECT_EQ(HostPort("[::1]", 1080), "[::1]:1080");
  EXPECT_EQ(UrlHost("fe80::1%eth0"), "[fe80::1%eth0]");
}

}  // namespace
}  // namespace relayscope
