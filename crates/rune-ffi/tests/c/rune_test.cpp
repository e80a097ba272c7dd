// rune.h from C++: the header compiles as C++17 (extern "C" block, no C-only syntax), links
// against the static librune.a, and works with RAII wrappers and captureless lambdas as
// callbacks. tests/c_abi.rs builds and runs it.
#include "rune.h"

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

struct ServerDeleter {
    void operator()(rune_server *s) const { rune_server_destroy(s); }
};
struct ClientDeleter {
    void operator()(rune_client *c) const { rune_client_destroy(c); }
};
struct StringDeleter {
    void operator()(char *s) const { rune_string_free(s); }
};
using Server = std::unique_ptr<rune_server, ServerDeleter>;
using Client = std::unique_ptr<rune_client, ClientDeleter>;
using RuneString = std::unique_ptr<char, StringDeleter>;

void check(rune_status s, const char *what) {
    if (s != RUNE_OK) {
        throw std::runtime_error(std::string(what) + ": " + rune_status_name(s) + ": " +
                                 rune_last_error());
    }
}

struct Shout {
    std::atomic<int> calls{0};
};

}  // namespace

int main() {
    try {
        rune_server *raw_server = nullptr;
        check(rune_server_create("cpp-server", "1.0.0", &raw_server), "rune_server_create");
        Server server(raw_server);

        static Shout shout;
        // A captureless lambda converts to the C function pointer type. Exceptions must not
        // leave a callback: this one catches everything.
        rune_tool_callback callback = [](void *user_data, const char *args, rune_tool_call *call) {
            try {
                auto *state = static_cast<Shout *>(user_data);
                state->calls++;
                std::string text(args);
                for (auto &ch : text) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
                rune_tool_call_set_text(call, text.c_str());
            } catch (...) {
                rune_tool_call_set_error(call, "the C++ tool threw");
            }
        };
        check(rune_server_register_tool(server.get(), "shout", "Upper-cases its arguments",
                                        nullptr, callback, &shout),
              "rune_server_register_tool");

        char *raw_url = nullptr;
        check(rune_server_listen(server.get(), "tcp://127.0.0.1:0", &raw_url), "rune_server_listen");
        RuneString url(raw_url);

        rune_client *raw_client = nullptr;
        check(rune_client_create(url.get(), &raw_client), "rune_client_create");
        Client client(raw_client);

        std::vector<std::thread> threads;
        std::atomic<int> good{0};
        for (int i = 0; i < 4; i++) {
            threads.emplace_back([&client, &good] {
                char *raw = nullptr;
                if (rune_client_call_tool(client.get(), "shout", "{\"word\":\"hi\"}", &raw) == RUNE_OK) {
                    RuneString result(raw);
                    if (std::strstr(result.get(), "{\\\"WORD\\\":\\\"HI\\\"}") != nullptr) good++;
                    else std::fprintf(stderr, "unexpected result: %s\n", result.get());
                }
            });
        }
        for (auto &t : threads) t.join();
        if (good != 4 || shout.calls != 4) {
            std::fprintf(stderr, "%d of 4 calls good, %d callbacks\n", good.load(), shout.calls.load());
            return 1;
        }
        std::printf("C++: 4 concurrent calls through librune.a ok (ABI %u, Rune %s)\n",
                    rune_abi_version(), rune_version());
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
