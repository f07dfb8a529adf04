/* The HTML report's libraries (report_html.c), embedded at build time by
 * html_embed.py from web/node_modules: uPlot, d3-flame-graph and the d3
 * modules it needs, their styles and their license texts (HTML).  When
 * the build found no web/node_modules, mt_html_assets_present is 0 and the
 * strings are empty. */
#ifndef MT_HTML_ASSETS_H
#define MT_HTML_ASSETS_H

extern const int mt_html_assets_present;
extern const char mt_html_js[];
extern const char mt_html_css[];
extern const char mt_html_licenses[];

#endif
