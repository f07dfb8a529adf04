/* --format html: the page (report_html.h).  The data is one JSON document
 * built with jansson; the page's own script (PAGE_JS below) renders it with
 * the embedded libraries: uPlot for the growth charts, d3-flame-graph for
 * the flame graph.  Nothing is fetched when the page is viewed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "report/html_assets.h"
#include "report/report.h"
#include "report/report_html.h"
#include "report/report_json.h"

bool mt_report_html_available(void)
{
	return mt_html_assets_present != 0;
}

#define INT(o, key, v) json_object_set_new(o, key, json_integer((json_int_t)(v)))

static json_t *header(const struct mt_report *r)
{
	json_t *h = json_object();
	INT(h, "pid", r->pid);
	json_object_set_new(h, "comm", mt_report_json_text(r->comm));
	json_object_set_new(h, "engine", mt_report_json_text(r->engine ? r->engine : ""));
	json_object_set_new(h, "allocator", mt_report_json_text(r->allocator));
	json_object_set_new(h, "duration_s", json_real(r->duration_s));
	INT(h, "events", r->events);
	INT(h, "lost_events", r->lost_events);
	INT(h, "unknown_frees", r->unknown_frees);
	INT(h, "stacks_cut_short", r->stacks_cut);
	INT(h, "inconsistencies", r->inconsistencies);
	INT(h, "sample_bytes", r->sample_bytes);
	json_object_set_new(h, "end_reason", mt_report_json_text(r->end_reason ? r->end_reason : ""));
	INT(h, "live_bytes", r->live_bytes);
	INT(h, "live_blocks", r->live_blocks);
	INT(h, "allocs", r->allocs);
	INT(h, "frees", r->frees);
	INT(h, "peak_live_bytes", r->peak_live_bytes);
	return h;
}

/* A frame's name in the flame graph: its function, so that calls from
 * different lines of one function share a box; unnamed, where it is. */
static void frame_label(char *buf, size_t len, const char *function, const char *module,
			uint64_t module_offset, uint64_t address)
{
	if (function[0]) {
		snprintf(buf, len, "%s", function);
	} else if (module[0]) {
		const char *base = strrchr(module, '/');
		snprintf(buf, len, "%s+0x%" PRIx64, base ? base + 1 : module, module_offset);
	} else {
		snprintf(buf, len, "0x%" PRIx64, address);
	}
}

static json_t *series(const struct mt_report_site *s)
{
	if (!s->nseries)
		return json_null();
	json_t *o = json_object(), *t = json_array(), *b = json_array();
	for (size_t i = 0; i < s->nseries; i++) {
		json_array_append_new(t, json_real(s->series_t[i]));
		json_array_append_new(b, json_integer((json_int_t)s->series_bytes[i]));
	}
	json_object_set_new(o, "t", t);
	json_object_set_new(o, "bytes", b);
	return o;
}

static json_t *site(const struct mt_report_site *s)
{
	char name[1024];
	json_t *j = json_object();
	mt_report_frame_name(name, sizeof name, &(struct mt_report_frame){
		.address = s->address, .function = s->function, .offset = s->offset,
		.module = s->module, .module_offset = s->module_offset, .file = s->file,
		.line = s->line });
	json_object_set_new(j, "name", mt_report_json_text(name));
	json_object_set_new(j, "function", mt_report_json_text(s->function));
	json_object_set_new(j, "module", mt_report_json_text(s->module));
	json_object_set_new(j, "file", mt_report_json_text(s->file));
	INT(j, "line", s->line);
	INT(j, "live_bytes", s->live_bytes);
	INT(j, "live_blocks", s->live_blocks);
	INT(j, "allocs", s->allocs);
	INT(j, "frees", s->frees);
	INT(j, "alloc_bytes", s->alloc_bytes);
	json_object_set_new(j, "trend", s->trend ? json_string(s->trend) : json_null());
	json_object_set_new(j, "rate_bytes_per_min", json_real(s->rate_bytes_per_min));
	json_object_set_new(j, "series", series(s));
	json_t *st = json_array();
	for (int k = 0; k < s->nframes; k++) {
		mt_report_frame_name(name, sizeof name, &s->frames[k]);
		json_array_append_new(st, mt_report_json_text(name));
	}
	json_object_set_new(j, "stack", st);
	return j;
}

/* The child of NODE named NAME, made when missing; its value grows by BYTES. */
static json_t *flame_child(json_t *node, const char *name, uint64_t bytes)
{
	json_t *kids = json_object_get(node, "children");
	/* compared as stored: bytes that are not UTF-8 read as '?' */
	json_t *jn = mt_report_json_text(name);
	size_t i;
	json_t *k = NULL;
	json_array_foreach(kids, i, k) {
		if (json_equal(json_object_get(k, "name"), jn))
			break;
	}
	if (i == json_array_size(kids)) {
		k = json_object();
		json_object_set(k, "name", jn);
		INT(k, "value", 0);
		json_object_set_new(k, "children", json_array());
		json_array_append_new(kids, k);
	}
	json_decref(jn);
	json_t *v = json_object_get(k, "value");
	json_integer_set(v, json_integer_value(v) + (json_int_t)bytes);
	return k;
}

/* One site's stack into the tree, outermost frame first, down to the
 * frame that names the site (the allocator's own frames left out). */
static void flame_add(json_t *root, const struct mt_report_site *s)
{
	char name[512];
	json_t *node = root;
	if (s->nframes == 0) {
		frame_label(name, sizeof name, s->function, s->module, s->module_offset, s->address);
		flame_child(node, name, s->live_bytes);
		return;
	}
	int last = s->site_frame >= 0 && s->site_frame < s->nframes ? s->site_frame : 0;
	for (int k = s->nframes - 1; k >= last; k--) {
		const struct mt_report_frame *fr = &s->frames[k];
		frame_label(name, sizeof name, fr->function, fr->module, fr->module_offset,
			    fr->address);
		node = flame_child(node, name, s->live_bytes);
	}
}

/* The largest MT_HTML_FLAME_SITES sites by live bytes; the rest summed. */
static int by_bytes(const void *a, const void *b)
{
	const struct mt_report_site *x = *(const struct mt_report_site *const *)a;
	const struct mt_report_site *y = *(const struct mt_report_site *const *)b;
	return x->live_bytes < y->live_bytes ? 1 : x->live_bytes > y->live_bytes ? -1 : 0;
}

static json_t *flame(const struct mt_report *r)
{
	json_t *root = json_object();
	json_object_set_new(root, "name", json_string("all live bytes"));
	json_object_set_new(root, "children", json_array());
	uint64_t total = 0, other = 0;
	const struct mt_report_site **v = malloc((r->nsites ? r->nsites : 1) * sizeof *v);
	if (!v) {
		json_decref(root);
		return NULL;
	}
	for (size_t i = 0; i < r->nsites; i++)
		v[i] = &r->sites[i];
	qsort(v, r->nsites, sizeof *v, by_bytes);
	for (size_t i = 0; i < r->nsites; i++) {
		total += v[i]->live_bytes;
		if (!v[i]->live_bytes)
			continue;
		if (i < MT_HTML_FLAME_SITES)
			flame_add(root, v[i]);
		else
			other += v[i]->live_bytes;
	}
	free(v);
	if (other)
		flame_child(root, "(other sites)", other);
	INT(root, "value", total);
	return root;
}

json_t *mt_report_html_data(const struct mt_report *r, int top, enum mt_html_time axis)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	char title[160];
	snprintf(title, sizeof title, "memtrace: %s (pid %d)", r->comm, r->pid);
	json_object_set_new(o, "memtrace_version", json_string(MT_VERSION));
	json_object_set_new(o, "title", mt_report_json_text(title));
	json_object_set_new(o, "time_axis",
			    json_string(axis == MT_HTML_TIME_UNIX ? "unix" : "since_attach"));
	json_object_set_new(o, "header", header(r));
	json_t *sites = json_array();
	size_t n = top > 0 && (size_t)top < r->nsites ? (size_t)top : r->nsites;
	for (size_t i = 0; i < n; i++)
		json_array_append_new(sites, site(&r->sites[i]));
	json_object_set_new(o, "sites", sites);
	INT(o, "sites_total", r->nsites);
	json_t *fl = flame(r);
	if (!fl) {
		json_decref(o);
		return NULL;
	}
	json_object_set_new(o, "flame", fl);
	if (r->census)
		mt_report_json_add_census(o, r->census);
	else
		json_object_set_new(o, "census", json_null());
	return o;
}

/* The data into a <script type="application/json">: every '<' as \u003c,
 * which JSON reads back as '<', so that no name (the target's, untrusted)
 * can close the element or open a comment. */
static int put_json(FILE *f, const json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!s)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p == '<')
			fputs("\\u003c", f);
		else
			fputc(*p, f);
	}
	free(s);
	return 0;
}

/* The page's markup and its script, which reads the data and draws. */
static const char PAGE_HEAD[] =
	"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	"<meta name=\"generator\" content=\"memtrace " MT_VERSION "\">\n"
	"<title>memtrace report</title>\n<style>\n";

static const char PAGE_STYLE[] =
	"body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}"
	"h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}"
	"table{border-collapse:collapse}td,th{padding:2px 8px;text-align:right}"
	"td.n,th.n{text-align:left}th{cursor:pointer;background:#eee;user-select:none}"
	"tr:nth-child(even) td{background:#f7f7f7}dl{display:grid;grid-template-columns:"
	"max-content auto;gap:2px 12px}dt{font-weight:600}dd{margin:0}"
	".charts{display:flex;flex-wrap:wrap;gap:12px}.chart{border:1px solid #ddd;padding:4px}"
	".chart h3{font-size:12px;margin:2px;max-width:420px;overflow:hidden;white-space:nowrap;"
	"text-overflow:ellipsis}.warn{color:#a40}.v-retention{color:#b00;font-weight:700}"
	"pre{white-space:pre-wrap;font-size:11px}details{margin-top:2em}\n";

static const char PAGE_BODY[] =
	"</style></head><body>\n"
	"<h1 id=\"title\">memtrace report</h1>\n"
	"<dl id=\"summary\"></dl>\n"
	"<h2>Sites</h2><p id=\"sites-note\"></p>\n"
	"<table id=\"sites\"><thead></thead><tbody></tbody></table>\n"
	"<h2>Growth</h2><p id=\"growth-note\"></p><div id=\"charts\" class=\"charts\"></div>\n"
	"<h2>Live bytes by stack</h2><p>Click a box to zoom; outermost frames at the "
	"top.</p><div id=\"flame\"></div>\n"
	"<h2>Census by type</h2><p id=\"census-note\"></p>\n"
	"<table id=\"census\"><thead></thead><tbody></tbody></table>\n";

static const char PAGE_JS[] =
	"(function(){'use strict';\n"
	"var D=JSON.parse(document.getElementById('memtrace-data').textContent);\n"
	"function el(t,txt,cls){var e=document.createElement(t);if(txt!==undefined)"
	"e.textContent=txt;if(cls)e.className=cls;return e;}\n"
	"function bytes(b){var u=['B','KiB','MiB','GiB','TiB'],i=0,a=Math.abs(b);"
	"while(a>=1024&&i<4){a/=1024;b/=1024;i++;}return (i?b.toFixed(1):String(b))+' '+u[i];}\n"
	"document.title=D.title;document.getElementById('title').textContent=D.title;\n"
	"var H=D.header,dl=document.getElementById('summary');\n"
	"function row(k,v,cls){dl.appendChild(el('dt',k));dl.appendChild(el('dd',v,cls));}\n"
	"row('process',H.comm+' (pid '+H.pid+')');row('engine',H.engine);"
	"row('allocator',H.allocator||'?');\n"
	"row('traced',H.duration_s.toFixed(1)+' s, '+H.events+' events'+"
	"(H.end_reason?' (ended: '+H.end_reason+')':''));\n"
	"row('lost events',String(H.lost_events),H.lost_events?'warn':'');\n"
	"if(H.sample_bytes)row('sampling','1 in ~'+bytes(H.sample_bytes)+': counts are estimates','warn');\n"
	"row('live (traced)',bytes(H.live_bytes)+' in '+H.live_blocks+' blocks');\n"
	"if(D.heap){row('heap',bytes(D.heap.live_bytes)+' live, '+bytes(D.heap.free_bytes)+"
	"' free, '+bytes(D.heap.rss_bytes)+' resident, '+D.heap.arenas+' arenas');"
	"row('verdict',D.heap.verdict,'v-'+D.heap.verdict);}\n"
	"function table(id,cols,rows){var t=document.getElementById(id),hd=t.tHead,"
	"tb=t.tBodies[0],tr=el('tr'),dir={};cols.forEach(function(c,i){var th=el('th',c[0],"
	"c[2]?'n':'');th.onclick=function(){dir[i]=!dir[i];rows.sort(function(a,b){"
	"var x=c[1](a),y=c[1](b);return (x<y?-1:x>y?1:0)*(dir[i]?-1:1);});fill();};"
	"tr.appendChild(th);});hd.appendChild(tr);function fill(){tb.textContent='';"
	"rows.forEach(function(r){var tr=el('tr');cols.forEach(function(c){"
	"var v=c[1](r);tr.appendChild(el('td',c[3]?c[3](v):String(v),c[2]?'n':''));});"
	"tb.appendChild(tr);});}fill();}\n"
	"var S=D.sites.slice();\n"
	"document.getElementById('sites-note').textContent=S.length+' of '+D.sites_total+"
	"' sites; click a column to sort.';\n"
	"table('sites',[['site',function(s){return s.name;},1],"
	"['live bytes',function(s){return s.live_bytes;},0,bytes],"
	"['live blocks',function(s){return s.live_blocks;}],"
	"['allocs',function(s){return s.allocs;}],['frees',function(s){return s.frees;}],"
	"['trend',function(s){return s.trend||'';},1],"
	"['rate/min',function(s){return s.trend?s.rate_bytes_per_min:'';},0,function(v){"
	"return v===''?'':bytes(Math.round(v));}]],S);\n"
	"var charts=document.getElementById('charts'),nc=0;\n"
	"D.sites.forEach(function(s){if(!s.series||s.series.t.length<1)return;nc++;"
	"var box=el('div',undefined,'chart');box.appendChild(el('h3',s.name));"
	"charts.appendChild(box);new uPlot({width:440,height:180,"
	"scales:{x:{time:D.time_axis==='unix'}},axes:[{},{size:70,values:function(u,v){"
	"return v.map(bytes);}}],series:[{label:D.time_axis==='unix'?'time':'s since attach'},"
	"{label:'live bytes',stroke:'#c33',width:2,points:{show:true},"
	"value:function(u,v){return v==null?'':bytes(v);}}]},[s.series.t,s.series.bytes],box);});\n"
	"document.getElementById('growth-note').textContent=nc?nc+' sites, live bytes over time.':"
	"'No series: attach --format html samples each interval; memtrace report takes '+"
	"'an attach --record file or several snapshots.';\n"
	"if(D.flame&&D.flame.value>0){var fg=flamegraph.default().width("
	"Math.min(1200,document.body.clientWidth-20)).cellHeight(18).inverted(true)"
	".transitionDuration(0)"
	".label(function(d){return d.data.name+': '+bytes(d.data.value);});"
	"d3.select('#flame').datum(D.flame).call(fg);}\n"
	"else document.getElementById('flame').textContent='Nothing live.';\n"
	"var C=D.census,cn=document.getElementById('census-note');\n"
	"if(!C)cn.textContent=D.census_unavailable?'No census: '+D.census_unavailable:"
	"'No census taken.';\n"
	"else{cn.textContent=C.blocks+' blocks, '+bytes(C.bytes)+' live at attach ('+"
	"C.allocator+(C.complete?'':', incomplete')+'), by C++ class, then by block size.'+"
	"(C.warnings.length?' '+C.warnings.join(' '):'');"
	"var rows=C.types.map(function(t){return {name:t.type,blocks:t.blocks,bytes:t.bytes};})"
	".concat(C.sizes.map(function(t){return {name:t.size+'-byte blocks',blocks:t.blocks,"
	"bytes:t.bytes};}));"
	"table('census',[['type or size',function(t){return t.name;},1],"
	"['blocks',function(t){return t.blocks;}],['bytes',function(t){return t.bytes;},0,bytes]],"
	"rows);}\n"
"})();\n";

int mt_report_html(FILE *f, const struct mt_report *r, int top, enum mt_html_time axis)
{
	if (!mt_report_html_available())
		return -2;
	json_t *o = mt_report_html_data(r, top, axis);
	if (!o)
		return -1;
	fputs(PAGE_HEAD, f);
	fputs(mt_html_css, f);
	fputs(PAGE_STYLE, f);
	fputs(PAGE_BODY, f);
	fputs("<script type=\"application/json\" id=\"memtrace-data\">", f);
	int err = put_json(f, o);
	json_decref(o);
	fputs("</script>\n<script>\n", f);
	fputs(mt_html_js, f);
	fputs("\n</script>\n<script>\n", f);
	fputs(PAGE_JS, f);
	fputs("</script>\n<details id=\"licenses\"><summary>Licenses of the libraries "
	      "this page embeds</summary>\n", f);
	fputs(mt_html_licenses, f);
	fputs("</details>\n</body></html>\n", f);
	fflush(f);
	return err < 0 || ferror(f) ? -1 : 0;
}
