user_pref("network.proxy.http", "a\"b\\c\n");
user_pref("network.proxy.http_port", 99999);
user_pref("network.proxy.type", 4);
user_pref("network.proxy.type", 0);
user_pref(broken
