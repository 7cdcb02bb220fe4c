#include "common/catalogue.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace relayscope {
namespace {

using ::testing::HasSubstr;

const char kMinimal[] = R"pb(
  name: "t"
  regions {
    id: "emea"
    relays {
      id: "emea-1"
      addresses: "127.0.0.2"
      ports: [ 8200, 443 ]
    }
  }
)pb";

TEST(Catalogue, ShippedProductionCatalogueHasTheTechnoteRelayTable) {
  auto catalogue = LoadCatalogue(RELAYSCOPE_SOURCE_DIR "/deploy/catalogue/aos.textproto");
  ASSERT_TRUE(catalogue.ok()) << catalogue.status();
  ASSERT_EQ(catalogue->regions_size(), 3);
  EXPECT_EQ(catalogue->regions(0).id(), "americas");
  const v1::Relay& americas = catalogue->regions(0).relays(0);
  EXPECT_EQ(americas.host(), "aos.us.ihost.com");
  EXPECT_EQ(americas.addresses(0), "72.15.208.234");
  EXPECT_EQ(std::vector<uint32_t>(americas.ports().begin(), americas.ports().end()),
            (std::vector<uint32_t>{8200, 80}));
  const v1::Relay* emea = FindRelay(*catalogue, "emea-1");
  ASSERT_NE(emea, nullptr);
  EXPECT_EQ(emea->addresses(0), "81.144.208.229");
  EXPECT_EQ(std::vector<uint32_t>(emea->ports().begin(), emea->ports().end()),
            (std::vector<uint32_t>{8200, 443, 80}));
  const v1::Relay* apac = FindRelay(*catalogue, "apac-1");
  ASSERT_NE(apac, nullptr);
  EXPECT_EQ(apac->addresses(0), "203.141.90.53");
}

TEST(Catalogue, DemoCatalogueStaysOnLoopback) {
  auto catalogue = LoadCatalogue(RELAYSCOPE_SOURCE_DIR "/deploy/catalogue/demo.textproto");
  ASSERT_TRUE(catalogue.ok()) << catalogue.status();
  int relays = 0;
  for (const auto& region : catalogue->regions()) {
    for (const auto& relay : region.relays()) {
      ++relays;
      EXPECT_TRUE(relay.host().empty()) << relay.id();
      for (const auto& address : relay.addresses()) {
        EXPECT_EQ(address.rfind("127.", 0), 0u) << relay.id() << " " << address;
      }
    }
  }
  EXPECT_EQ(relays, 3);
}

TEST(Catalogue, ParsesMinimal) {
  auto catalogue = ParseCatalogue(kMinimal, "t.textproto");
  ASSERT_TRUE(catalogue.ok()) << catalogue.status();
  EXPECT_EQ(catalogue->regions(0).relays(0).ports_size(), 2);
  EXPECT_EQ(FindRelay(*catalogue, "nope"), nullptr);
}

TEST(Catalogue, SelectRegionsKeepsCatalogueOrderAndRejectsUnknownIds) {
  auto catalogue = LoadCatalogue(RELAYSCOPE_SOURCE_DIR "/deploy/catalogue/aos.textproto");
  ASSERT_TRUE(catalogue.ok());
  auto selected = SelectRegions(*catalogue, {"apac", "americas"});
  ASSERT_TRUE(selected.ok()) << selected.status();
  ASSERT_EQ(selected->regions_size(), 2);
  EXPECT_EQ(selected->regions(0).id(), "americas");
  EXPECT_EQ(selected->regions(1).id(), "apac");
  EXPECT_EQ(SelectRegions(*catalogue, {"mars"}).status().message(),
            "no region \"mars\" in catalogue \"aos\"");
}

TEST(Catalogue, MissingFileIsNotFound) {
  auto catalogue = LoadCatalogue("/nonexistent/relayscope.textproto");
  EXPECT_EQ(catalogue.status().code(), absl::StatusCode::kNotFound);
}

TEST(Catalogue, SyntaxErrorNamesFileAndLine) {
  auto catalogue = ParseCatalogue("name: \"x\"\nregions { id: }\n", "bad.textproto");
  ASSERT_EQ(catalogue.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(catalogue.status().message()), HasSubstr("bad.textproto:2:"));
}

TEST(Catalogue, UnknownFieldIsATypoNotIgnored) {
  auto catalogue =
      ParseCatalogue("regions { id: \"a\" relays { id: \"a\" adresses: \"127.0.0.1\" ports: 1 } }",
                     "typo.textproto");
  ASSERT_EQ(catalogue.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(catalogue.status().message()), HasSubstr("adresses"));
}

struct BadCase {
  const char* name;
  const char* text;
  const char* expected;
};

class CatalogueValidation : public ::testing::TestWithParam<BadCase> {};

TEST_P(CatalogueValidation, RejectsWithAMessageNamingTheElement) {
  auto catalogue = ParseCatalogue(GetParam().text, "c.textproto");
  ASSERT_EQ(catalogue.status().code(), absl::StatusCode::kInvalidArgument) << GetParam().name;
  EXPECT_THAT(std::string(catalogue.status().message()), HasSubstr(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    Invariants, CatalogueValidation,
    ::testing::Values(
        BadCase{"no_regions", "name: \"x\"", "no regions"},
        BadCase{"region_id_uppercase",
                "regions { id: \"EMEA\" relays { id: \"a\" addresses: \"127.0.0.1\" ports: 1 } }",
                "regions[0]: id \"EMEA\""},
        BadCase{"duplicate_region",
                "regions { id: \"a\" relays { id: \"a1\" addresses: \"127.0.0.1\" ports: 1 } }"
                "regions { id: \"a\" relays { id: \"a2\" addresses: \"127.0.0.1\" ports: 1 } }",
                "duplicate region id"},
        BadCase{"no_relays", "regions { id: \"a\" }", "region has no relays"},
        BadCase{"duplicate_relay",
                "regions { id: \"a\" relays { id: \"r\" addresses: \"127.0.0.1\" ports: 1 } }"
                "regions { id: \"b\" relays { id: \"r\" addresses: \"127.0.0.1\" ports: 1 } }",
                "regions[1].relays[0]: duplicate relay id"},
        BadCase{"no_address", "regions { id: \"a\" relays { id: \"r\" ports: 1 } }",
                "needs a host or an address"},
        BadCase{"bad_address",
                "regions { id: \"a\" relays { id: \"r\" addresses: \"300.1.1.1\" ports: 1 } }",
                "\"300.1.1.1\" is not an IPv4 or IPv6 literal"},
        BadCase{"bad_host", "regions { id: \"a\" relays { id: \"r\" host: \"a b\" ports: 1 } }",
                "is not a valid DNS name"},
        BadCase{"no_ports", "regions { id: \"a\" relays { id: \"r\" addresses: \"::1\" } }",
                "has no ports"},
        BadCase{"port_zero",
                "regions { id: \"a\" relays { id: \"r\" addresses: \"::1\" ports: 0 } }",
                "port 0 out of range"},
        BadCase{"port_too_big",
                "regions { id: \"a\" relays { id: \"r\" addresses: \"::1\" ports: 70000 } }",
                "port 70000 out of range"},
        BadCase{"duplicate_port",
                "regions { id: \"a\" relays { id: \"r\" addresses: \"::1\" ports: [80, 80] } }",
                "duplicate port 80"},
        BadCase{"download_id_taken_by_relay",
                "regions { id: \"a\" relays { id: \"r\" addresses: \"::1\" ports: 1 } }"
                "downloads { id: \"r\" region: \"a\" host: \"d.example\" ports: 443 }",
                "downloads[0]: id \"r\" is already used by a relay"},
        BadCase{"download_unknown_region",
                "regions { id: \"a\" relays { id: \"r\" addresses: \"::1\" ports: 1 } }"
                "downloads { id: \"d\" region: \"b\" host: \"d.example\" ports: 443 }",
                "downloads[0] (d): region \"b\" is not a region"},
        BadCase{"download_without_host",
                "regions { id: \"a\" relays { id: \"r\" addresses: \"::1\" ports: 1 } }"
                "downloads { id: \"d\" region: \"a\" addresses: \"::1\" ports: 443 }",
                "must be a DNS name (it is the TLS server name)"},
        BadCase{"download_without_ports",
                "regions { id: \"a\" relays { id: \"r\" addresses: \"::1\" ports: 1 } }"
                "downloads { id: \"d\" region: \"a\" host: \"d.example\" }",
                "downloads[0] (d): it has no ports"},
        BadCase{"download_bad_pin",
                "regions { id: \"a\" relays { id: \"r\" addresses: \"::1\" ports: 1 } }"
                "downloads { id: \"d\" region: \"a\" host: \"d.example\" ports: 443"
                " expected { spki_sha256: \"ABCD\" } }",
                "must be 64 lower-case hex digits"}),
    [](const ::testing::TestParamInfo<BadCase>& param_info) {
      return std::string(param_info.param.name);
    });

}  // namespace
}  // namespace relayscope
