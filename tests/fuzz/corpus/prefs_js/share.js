user_pref("network.proxy.share_proxy_settings", true);
user_pref("network.proxy.http", "[fd00::3128]");
user_pref("network.proxy.http_port", 3128);
user_pref("network.proxy.type", 1);
