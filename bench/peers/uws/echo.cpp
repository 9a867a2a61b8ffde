// µWebSockets echo server for bench/run.sh: `uws-echo 127.0.0.1:PORT`. Our own code, built
// against an unmodified uWebSockets + uSockets checkout outside this repository (see
// docs/BENCHMARKS.md); run.sh takes the binary from UWS_ECHO. One event loop (one thread),
// no TLS, no compression, no idle timeout or automatic pings, messages up to 64 MiB.
// `uws-echo ADDR --fanout`: every client subscribes to one topic and every message is
// published to the others (µWS's publish: encoded once, for `wsx bench --fanout`).
#include "App.h"
#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char **argv) {
    std::string addr = argc > 1 ? argv[1] : "127.0.0.1:9001";
    size_t colon = addr.rfind(':');
    std::string host = addr.substr(0, colon);
    int port = std::atoi(addr.c_str() + colon + 1);
    static bool fanout = argc > 2 && std::string(argv[2]) == "--fanout";
    struct PerSocketData {};
    uWS::App()
        .ws<PerSocketData>("/*", {
            .compression = uWS::DISABLED,
            .maxPayloadLength = 64 * 1024 * 1024 + 1024,
            .idleTimeout = 0,
            .maxBackpressure = 256 * 1024 * 1024,
            .closeOnBackpressureLimit = false,
            .resetIdleTimeoutOnSend = false,
            .sendPingsAutomatically = false,
            .open = [](auto *ws) {
                if (fanout) ws->subscribe("all");
            },
            .message = [](auto *ws, std::string_view message, uWS::OpCode opCode) {
                if (fanout) {
                    ws->publish("all", message, opCode, false);
                } else {
                    ws->send(message, opCode, false);
                }
            },
        })
        .listen(host, port, [&](auto *listen_socket) {
            if (listen_socket) {
                std::fprintf(stderr, "uws-echo listening on %s\n", addr.c_str());
            } else {
                std::fprintf(stderr, "uws-echo: cannot listen on %s\n", addr.c_str());
                std::exit(1);
            }
        })
        .run();
}
