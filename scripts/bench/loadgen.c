// Closed-loop load generator for the length-prefixed JSON protocol, light enough to leave
// the CPU to the server: one thread, epoll, no allocation per request.
//
//   loadgen --port P [--host H] [--conns N] [--seconds S] [--warmup S] [--ids N]
//           [--auth PASSWORD] --template BODY [--template BODY ...]
//
// Each connection sends one request (a template, "%ID%" replaced by a random id in 1..ids),
// reads the whole response, records the latency, and sends the next. Prints one JSON line:
// rps, p50_us, p99_us, p999_us, max_us, responses, errors (responses carrying error_code or
// generic_error), mb_in_per_s, and cpu_us_per_req: this process's own CPU time over the
// measured seconds per response, so that a run shows what the load generator takes of the cores.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { MAX_TEMPLATES = 32, REQUEST_CAP = 65536 };

typedef struct {
  int fd;
  char request[REQUEST_CAP];
  size_t request_len, sent;
  uint8_t header[4];
  size_t header_got;
  char *body;
  size_t body_len, body_got, body_cap;
  int64_t started_ns;
} Conn;

static const char *templates[MAX_TEMPLATES];
static int template_count;
static long id_range = 1000;
static uint64_t random_state = 0x9e3779b97f4a7c15ULL;

static uint64_t next_random(void) {  // xorshift64*
  random_state ^= random_state >> 12;
  random_state ^= random_state << 25;
  random_state ^= random_state >> 27;
  return random_state * 2685821657736338717ULL;
}

static int64_t clock_ns(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

static void die(const char *what) {
  perror(what);
  exit(1);
}

/* Puts a framed request into c->request, from a random template. */
static void prepare(Conn *c, const char *fixed_body) {
  const char *t = fixed_body ? fixed_body : templates[next_random() % template_count];
  char id[24];
  int id_len = snprintf(id, sizeof id, "%ld", (long)(next_random() % id_range) + 1);
  size_t out = 4;
  for (const char *p = t; *p && out < REQUEST_CAP - 24; p++) {
    if (!fixed_body && strncmp(p, "%ID%", 4) == 0) {
      memcpy(c->request + out, id, id_len);
      out += id_len;
      p += 3;
    } else {
      c->request[out++] = *p;
    }
  }
  uint32_t n = (uint32_t)(out - 4);
  for (int i = 0; i < 4; i++) c->request[i] = (char)((n >> (8 * i)) & 0xff);
  c->request_len = out;
  c->sent = 0;
  c->header_got = 0;
  c->body_got = 0;
  c->body_len = 0;
  c->started_ns = now_ns();
}

static void flush(int epoll_fd, Conn *c, int index) {
  while (c->sent < c->request_len) {
    ssize_t n = write(c->fd, c->request + c->sent, c->request_len - c->sent);
    if (n > 0) {
      c->sent += (size_t)n;
    } else if (n < 0 && errno == EAGAIN) {
      break;
    } else {
      die("write");
    }
  }
  struct epoll_event ev = {.events = EPOLLIN | (c->sent < c->request_len ? EPOLLOUT : 0), .data.u32 = (uint32_t)index};
  epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Reads what is there; returns 1 when a whole response has arrived. */
static int receive(Conn *c, size_t *bytes_in) {
  for (;;) {
    if (c->header_got < 4) {
      ssize_t n = read(c->fd, c->header + c->header_got, 4 - c->header_got);
      if (n == 0) { fprintf(stderr, "server closed the connection\n"); exit(1); }
      if (n < 0) { if (errno == EAGAIN) return 0; die("read"); }
      c->header_got += (size_t)n;
      *bytes_in += (size_t)n;
      if (c->header_got < 4) continue;
      c->body_len = c->header[0] | c->header[1] << 8 | c->header[2] << 16 | (size_t)c->header[3] << 24;
      if (c->body_len > c->body_cap) {
        c->body_cap = c->body_len;
        c->body = realloc(c->body, c->body_cap);
        if (!c->body) die("realloc");
      }
      if (c->body_len == 0) return 1;
    }
    ssize_t n = read(c->fd, c->body + c->body_got, c->body_len - c->body_got);
    if (n == 0) { fprintf(stderr, "server closed the connection\n"); exit(1); }
    if (n < 0) { if (errno == EAGAIN) return 0; die("read"); }
    c->body_got += (size_t)n;
    *bytes_in += (size_t)n;
    if (c->body_got == c->body_len) return 1;
  }
}

static int is_error(const Conn *c) {
  // Error responses start with {"error_code" or {"generic_error"; rows start with {"columns".
  return c->body_len > 3 && (memcmp(c->body, "{\"e", 3) == 0 || memcmp(c->body, "{\"g", 3) == 0);
}

static int compare_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1", *auth = NULL;
  int port = 0, conns = 1;
  double seconds = 5, warmup = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--host")) host = argv[i + 1];
    else if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--conns")) conns = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--warmup")) warmup = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--ids")) id_range = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--auth")) auth = argv[i + 1];
    else if (!strcmp(argv[i], "--template") && template_count < MAX_TEMPLATES) templates[template_count++] = argv[i + 1];
    else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
  }
  if (!port || !template_count || conns < 1) {
    fprintf(stderr, "usage: loadgen --port P --template BODY [--conns N --seconds S --warmup S --ids N --host H --auth PW]\n");
    return 2;
  }
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *address;
  char port_text[8];
  snprintf(port_text, sizeof port_text, "%d", port);
  if (getaddrinfo(host, port_text, &hints, &address)) { fprintf(stderr, "cannot resolve %s\n", host); return 1; }

  int epoll_fd = epoll_create1(0);
  Conn *all = calloc((size_t)conns, sizeof(Conn));
  char auth_body[512];
  if (auth) snprintf(auth_body, sizeof auth_body, "{\"auth\":\"%s\"}", auth);
  for (int i = 0; i < conns; i++) {
    Conn *c = &all[i];
    c->fd = socket(address->ai_family, SOCK_STREAM, 0);
    if (c->fd < 0 || connect(c->fd, address->ai_addr, address->ai_addrlen)) die("connect");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (auth) {  // the handshake, blocking, before the socket goes non-blocking
      prepare(c, auth_body);
      if (write(c->fd, c->request, c->request_len) != (ssize_t)c->request_len) die("auth write");
      size_t ignored = 0;
      while (!receive(c, &ignored)) {}
    }
    if (fcntl(c->fd, F_SETFL, O_NONBLOCK)) die("fcntl");
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c->fd, &ev);
  }

  size_t latency_cap = 1 << 20, latency_count = 0, responses = 0, errors = 0, bytes_in = 0;
  uint32_t *latencies = malloc(latency_cap * sizeof *latencies);
  for (int i = 0; i < conns; i++) {
    prepare(&all[i], NULL);
    flush(epoll_fd, &all[i], i);
  }
  int64_t start = now_ns(), measure_from = start + (int64_t)(warmup * 1e9), end = measure_from + (int64_t)(seconds * 1e9);
  struct epoll_event events[512];
  int64_t cpu_from = -1;  // CPU time when the measured seconds began
  for (;;) {
    int64_t t = now_ns();
    if (t >= end) break;
    if (cpu_from < 0 && t >= measure_from) cpu_from = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    int ready = epoll_wait(epoll_fd, events, 512, 50);
    for (int e = 0; e < ready; e++) {
      int i = (int)events[e].data.u32;
      Conn *c = &all[i];
      if (events[e].events & EPOLLOUT) flush(epoll_fd, c, i);
      if (!(events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      size_t got = 0;
      if (!receive(c, &got)) {
        if (now_ns() >= measure_from) bytes_in += got;
        continue;
      }
      int64_t done = now_ns();
      if (done >= measure_from && done < end) {
        bytes_in += got;
        responses++;
        errors += (size_t)is_error(c);
        if (latency_count == latency_cap) latencies = realloc(latencies, (latency_cap *= 2) * sizeof *latencies);
        latencies[latency_count++] = (uint32_t)((done - c->started_ns) / 1000);
      }
      prepare(c, NULL);
      flush(epoll_fd, c, i);
    }
  }
  double cpu_us = cpu_from < 0 ? 0 : (clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu_from) / 1e3;
  qsort(latencies, latency_count, sizeof *latencies, compare_u32);
#define PCT(p) (latency_count ? latencies[(size_t)((latency_count - 1) * (p))] : 0)
  printf("{\"rps\":%.1f,\"p50_us\":%u,\"p99_us\":%u,\"p999_us\":%u,\"max_us\":%u,\"responses\":%zu,\"errors\":%zu,\"mb_in_per_s\":%.2f,\"cpu_us_per_req\":%.2f}\n",
         responses / seconds, PCT(0.5), PCT(0.99), PCT(0.999), latency_count ? latencies[latency_count - 1] : 0, responses, errors,
         bytes_in / seconds / 1e6, responses ? cpu_us / responses : 0);
  return 0;
}
