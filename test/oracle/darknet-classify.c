/*
 * darknet-classify: darknet's classifier on a list of images, each prepared the way
 * its predict_classifier does (examples/classifier.c): load_image_color,
 * letterbox_image to the network's size, network_predict.
 *
 *   darknet-classify CFG WEIGHTS LIST OUT.f32
 *
 * LIST has one image path a line. OUT.f32 receives the network's output for each
 * image in list order, float32, net->outputs values a row.
 * Linked against the system's libdarknet (Debian's darknet package).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <darknet.h>

static void fail(const char *what, const char *path)
{
    fprintf(stderr, "darknet-classify: %s: %s%s%s\n", path, what, errno ? ": " : "", errno ? strerror(errno) : "");
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s CFG WEIGHTS LIST OUT.f32\n", argv[0]);
        return 2;
    }
    network *net = load_network(argv[1], argv[2], 0);
    set_batch_network(net, 1);
    FILE *list = fopen(argv[3], "r");
    if (!list) fail("cannot open", argv[3]);
    FILE *out = fopen(argv[4], "wb");
    if (!out) fail("cannot create", argv[4]);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, list)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0]) continue;
        /* darknet substitutes a blank image for a file it cannot read: check first. */
        FILE *f = fopen(line, "rb");
        if (!f) fail("cannot open", line);
        fclose(f);
        image im = load_image_color(line, 0, 0);
        image r = letterbox_image(im, net->w, net->h);
        float *p = network_predict(net, r.data);
        errno = 0;
        if (fwrite(p, sizeof(float), (size_t)net->outputs, out) != (size_t)net->outputs) fail("cannot write", argv[4]);
        if (r.data != im.data) free_image(r);
        free_image(im);
        n++;
    }
    fclose(list);
    errno = 0;
    if (fclose(out) != 0) fail("cannot write", argv[4]);
    fprintf(stderr, "darknet-classify: %d images, %d outputs each\n", n, net->outputs);
    free_network(net);
    return 0;
}
