// The floor of a one-room fan-out on this machine: how soon the last of N receivers can have a
// keystroke when one core does nothing but send it. No WebSocket, no document, no runtime: the
// process connects N loopback TCP sockets to itself, then, pinned to core 0, sends BYTES bytes
// (a keystroke's WebSocket frame) to each in turn, while a child pinned to core 1 drains them
// with epoll as the benchmark's driver does. ROUNDS rounds, 5 ms apart after the last receiver
// has the round, as bench/yjs-load's latency mode paces a writer.
//
// Prints one JSON line in bench/yjs-load's shape (first_us/last_us: from the start of the send
// loop to the child's first and last read of the round; loop_us: the send loop alone).
//
// Usage: floor [N=1000] [ROUNDS=200] [BYTES=32]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void pin(int core) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(core, &s);
  if (sched_setaffinity(0, sizeof s, &s) != 0) perror("sched_setaffinity");
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void stats(const char *name, double *v, int n, int last) {
  qsort(v, n, sizeof *v, by_value);
  double sum = 0;
  for (int i = 0; i < n; i++) sum += v[i];
  printf("\"%s\":{\"n\":%d,\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"mean\":%.3f}%s", name, n,
         v[n / 2], v[n * 99 / 100], v[n - 1], sum / n, last ? "" : ",");
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1000;
  int rounds = argc > 2 ? atoi(argv[2]) : 200;
  int bytes = argc > 3 ? atoi(argv[3]) : 32;
  if (n < 1 || rounds < 1 || bytes < 1 || bytes > 4096) {
    fprintf(stderr, "usage: floor [N] [ROUNDS] [BYTES<=4096]\n");
    return 2;
  }
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
  socklen_t al = sizeof a;
  if (l < 0 || bind(l, (void *)&a, sizeof a) || listen(l, 4096) || getsockname(l, (void *)&a, &al))
    die("listen");
  int *rx = calloc(n, sizeof *rx), *tx = calloc(n, sizeof *tx), one = 1;
  for (int i = 0; i < n; i++) {
    rx[i] = socket(AF_INET, SOCK_STREAM, 0);
    if (rx[i] < 0 || connect(rx[i], (void *)&a, sizeof a)) die("connect");
    if ((tx[i] = accept(l, 0, 0)) < 0) die("accept");
    setsockopt(tx[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  int report[2], go[2];
  if (pipe(report) || pipe(go)) die("pipe");
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    pin(1);
    int ep = epoll_create1(0);
    for (int i = 0; i < n; i++) {
      struct epoll_event e = {.events = EPOLLIN, .data.u32 = i};
      if (epoll_ctl(ep, EPOLL_CTL_ADD, rx[i], &e)) die("epoll_ctl");
    }
    char buf[65536];
    struct epoll_event ev[256];
    long want = (long)n * bytes;
    for (int r = 0; r < rounds; r++) {
      long got = 0;
      double first = 0;
      while (got < want) {
        int k = epoll_wait(ep, ev, 256, -1);
        for (int j = 0; j < k; j++) {
          ssize_t x = read(rx[ev[j].data.u32], buf, sizeof buf);
          if (x <= 0) die("read");
          if (got == 0) first = now_us();
          got += x;
        }
      }
      double t[2] = {first, now_us()};
      if (write(report[1], t, sizeof t) != sizeof t) die("report");
    }
    exit(0);
  }
  pin(0);
  char *msg = malloc(bytes);
  memset(msg, 'x', bytes);
  double *first = calloc(rounds, sizeof(double)), *last = calloc(rounds, sizeof(double)),
         *loop = calloc(rounds, sizeof(double));
  for (int r = 0; r < rounds; r++) {
    double t0 = now_us();
    for (int i = 0; i < n; i++)
      if (send(tx[i], msg, bytes, 0) != bytes) die("send");
    loop[r] = now_us() - t0;
    double t[2];
    if (read(report[0], t, sizeof t) != sizeof t) die("read report");
    first[r] = t[0] - t0;
    last[r] = t[1] - t0;
    usleep(5000);
  }
  waitpid(child, 0, 0);
  printf("{\"bench\":\"fanout-floor\",\"label\":\"floor\",\"mode\":\"latency\",\"receivers\":%d,"
         "\"rounds\":%d,\"bytes\":%d,\"lost\":0,\"reordered\":0,\"duplicates\":0,\"ok\":true,",
         n, rounds, bytes);
  stats("first_us", first, rounds, 0);
  stats("last_us", last, rounds, 0);
  stats("loop_us", loop, rounds, 1);
  printf("}\n");
  return 0;
}
