/*
 * darknet-dump: run darknet on one image the way its detector does and write what
 * it computed, so the engine can be compared with darknet layer by layer.
 *
 *   darknet-dump CFG WEIGHTS IMAGE OUTDIR
 *
 * OUTDIR receives input.f32 (the letterboxed network input, float32 C x H x W),
 * layerNN.f32 (every layer's output, darknet's memory order) and manifest.json.
 * Linked against the system's libdarknet (Debian's darknet package).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <darknet.h>

/* Exported by libdarknet (network.c) but missing from its public header. */
char *get_layer_string(LAYER_TYPE a);

static void fail(const char *what, const char *path)
{
    fprintf(stderr, "darknet-dump: %s: %s%s%s\n", path, what, errno ? ": " : "", errno ? strerror(errno) : "");
    exit(1);
}

/* darknet exits or silently substitutes a blank image on unreadable files: check first. */
static void require_readable(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail("cannot open", path);
    fclose(f);
}

static FILE *open_out(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) fail("cannot create", path);
    return f;
}

static void write_f32(const char *dir, const char *name, const float *data, int n)
{
    FILE *f = open_out(dir, name);
    errno = 0;
    if (fwrite(data, sizeof(float), (size_t)n, f) != (size_t)n || fclose(f) != 0) fail("cannot write", name);
}

/* File names as JSON strings: only the base name, with quotes, backslashes and control bytes escaped. */
static void put_json_name(FILE *f, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)base; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static void write_manifest(const char *dir, network *net, char **argv, image im)
{
    FILE *f = open_out(dir, "manifest.json");
    fputs("{\n \"cfg\": ", f);
    put_json_name(f, argv[1]);
    fputs(",\n \"weights\": ", f);
    put_json_name(f, argv[2]);
    fputs(",\n \"image\": ", f);
    put_json_name(f, argv[3]);
    fprintf(f, ",\n \"image_size\": { \"w\": %d, \"h\": %d, \"c\": %d },\n", im.w, im.h, im.c);
    fprintf(f, " \"input_file\": \"input.f32\",\n \"input_size\": { \"w\": %d, \"h\": %d, \"c\": %d },\n", net->w, net->h, net->c);
    fputs(" \"layers\": [\n", f);
    for (int i = 0; i < net->n; i++) {
        layer l = net->layers[i];
        fprintf(f, "  { \"index\": %d, \"type\": \"%s\", \"out_c\": %d, \"out_h\": %d, \"out_w\": %d, \"outputs\": %d, \"file\": \"layer%02d.f32\" }%s\n",
                i, get_layer_string(l.type), l.out_c, l.out_h, l.out_w, l.outputs, i, i + 1 < net->n ? "," : "");
    }
    fputs(" ]\n}\n", f);
    errno = 0;
    if (fclose(f) != 0) fail("cannot write", "manifest.json");
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: darknet-dump CFG WEIGHTS IMAGE OUTDIR\n");
        return 2;
    }
    for (int i = 1; i <= 3; i++) require_readable(argv[i]);

    network *net = load_network(argv[1], argv[2], 0);
    set_batch_network(net, 1);
    /* What darknet's detector does with an image: decode to RGB floats, letterbox to the net. */
    image im = load_image_color(argv[3], 0, 0);
    image sized = letterbox_image(im, net->w, net->h);
    write_f32(argv[4], "input.f32", sized.data, sized.w * sized.h * sized.c);

    network_predict(net, sized.data);
    for (int i = 0; i < net->n; i++) {
        char name[32];
        snprintf(name, sizeof name, "layer%02d.f32", i);
        write_f32(argv[4], name, net->layers[i].output, net->layers[i].outputs);
    }
    write_manifest(argv[4], net, argv, im);
    free_image(sized);
    free_image(im);
    free_network(net);
    return 0;
}
