// The floor: a server that answers every frame with {"columns":[],"data":[]} and does nothing
// else. What a server achieves divided by what this achieves, in the same run, is a figure
// that holds on a noisy machine. Prints "echo-floor listening on 127.0.0.1:<port>".
//
//   echo-floor [port]     (0 or nothing: any free port)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char REPLY[] = "\x18\x00\x00\x00{\"columns\":[],\"data\":[]}";

typedef struct {
  uint8_t header[4];
  uint32_t header_got, body_left;
} Peer;

int main(int argc, char **argv) {
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(argc > 1 ? atoi(argv[1]) : 0)};
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, (struct sockaddr *)&address, sizeof address) || listen(listener, 4096)) { perror("listen"); return 1; }
  socklen_t length = sizeof address;
  getsockname(listener, (struct sockaddr *)&address, &length);
  printf("echo-floor listening on 127.0.0.1:%d\n", ntohs(address.sin_port));
  fflush(stdout);

  int epoll_fd = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener};
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &ev);
  enum { MAX_FD = 65536 };
  static Peer peers[MAX_FD];
  static uint8_t buffer[1 << 16];
  struct epoll_event events[256];
  for (;;) {
    int ready = epoll_wait(epoll_fd, events, 256, -1);
    for (int e = 0; e < ready; e++) {
      int fd = events[e].data.fd;
      if (fd == listener) {
        int peer;
        while ((peer = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          if (peer >= MAX_FD) { close(peer); continue; }
          setsockopt(peer, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          memset(&peers[peer], 0, sizeof peers[peer]);
          struct epoll_event pe = {.events = EPOLLIN, .data.fd = peer};
          epoll_ctl(epoll_fd, EPOLL_CTL_ADD, peer, &pe);
        }
        continue;
      }
      Peer *p = &peers[fd];
      ssize_t n = read(fd, buffer, sizeof buffer);
      if (n <= 0) {
        if (n < 0 && errno == EAGAIN) continue;
        close(fd);
        continue;
      }
      int replies = 0;
      for (ssize_t i = 0; i < n;) {
        if (p->body_left > 0) {
          uint32_t take = (uint32_t)(n - i) < p->body_left ? (uint32_t)(n - i) : p->body_left;
          p->body_left -= take;
          i += take;
          if (p->body_left == 0) replies++;
          continue;
        }
        p->header[p->header_got++] = buffer[i++];
        if (p->header_got == 4) {
          p->header_got = 0;
          p->body_left = p->header[0] | p->header[1] << 8 | p->header[2] << 16 | (uint32_t)p->header[3] << 24;
          if (p->body_left == 0) replies++;
        }
      }
      for (; replies > 0; replies--) {
        if (write(fd, REPLY, sizeof REPLY - 1) < 0 && errno != EAGAIN) { close(fd); break; }
      }
    }
  }
}
