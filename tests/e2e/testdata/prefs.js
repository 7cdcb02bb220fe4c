// Mozilla User Preferences
user_pref("browser.startup.page", 3);
user_pref("network.proxy.autoconfig_url", "http://127.0.64.1:8080/proxy.pac");
user_pref("network.proxy.type", 2);
