/* Built by the install test with `pkg-config --cflags --libs libnet`. */
#include <stdio.h>
#include "libnet.h"

int main(void) {
    printf("%s\n", net_version());
    return 0;
}
