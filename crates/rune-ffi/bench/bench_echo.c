/*
 * N sequential tools/call of `echo` through the C ABI, against a stdio server.
 *
 *   bench_echo SERVER_COMMAND CALLS
 *
 * Prints one line: calls/s, and the CPU time of this process (Rune's threads included, the
 * server excluded) per call. examples/bench_echo.rs does the same from Rust; bench/run.sh
 * runs both side by side.
 */
#define _POSIX_C_SOURCE 200809L
#include "rune.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static int call(rune_client *client) {
    char *result = NULL;
    rune_status s = rune_client_call_tool(client, "echo", "{\"message\":\"hello\"}", &result);
    int ok = s == RUNE_OK && strstr(result, "\"text\":\"hello\"") != NULL;
    if (!ok) fprintf(stderr, "echo failed: %s %s\n", rune_status_name(s), rune_last_error());
    rune_string_free(result);
    return ok;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s SERVER_COMMAND CALLS\n", argv[0]);
        return 2;
    }
    long calls = atol(argv[2]);
    char url[4096];
    snprintf(url, sizeof url, "stdio:%s", argv[1]);
    rune_client *client = NULL;
    if (rune_client_create(url, &client) != RUNE_OK) {
        fprintf(stderr, "connect: %s\n", rune_last_error());
        return 1;
    }
    for (long i = 0; i < calls / 10; i++)
        if (!call(client)) return 1; /* warm-up */
    double t0 = now(), c0 = cpu();
    for (long i = 0; i < calls; i++)
        if (!call(client)) return 1;
    double wall = now() - t0, cpu_s = cpu() - c0;
    printf("c-abi  %8.0f calls/s  %6.2f us/call  client CPU %6.2f us/call\n", calls / wall,
           wall / calls * 1e6, cpu_s / calls * 1e6);
    rune_client_destroy(client);
    return 0;
}
