// A small city base map (our own vector tiles: wards and roads) for the account pages.
"use strict";

function accountBaseStyle() {
  const major = ["motorway", "trunk", "primary", "secondary", "tertiary"];
  return {
    version: 8,
    sources: {
      city: {type: "vector", tiles: [`${location.origin}/tiles/{z}/{x}/{y}.pbf`],
             minzoom: 8, maxzoom: 16, attribution: OSM_CREDIT},
    },
    layers: [
      {id: "background", type: "background", paint: {"background-color": "#f4f1ea"}},
      {id: "wards-fill", type: "fill", source: "city", "source-layer": "wards",
       paint: {"fill-color": "#e9efe4", "fill-opacity": 0.5}},
      {id: "roads-minor", type: "line", source: "city", "source-layer": "roads",
       filter: ["!", ["in", ["get", "highway"], ["literal", major]]],
       paint: {"line-color": "#ffffff",
               "line-width": ["interpolate", ["linear"], ["zoom"], 13, 0.5, 17, 4]}},
      {id: "roads-major", type: "line", source: "city", "source-layer": "roads",
       filter: ["in", ["get", "highway"], ["literal", major]],
       paint: {"line-color": "#f6cf8a",
               "line-width": ["interpolate", ["linear"], ["zoom"], 10, 1, 17, 7]}},
      {id: "wards-line", type: "line", source: "city", "source-layer": "wards",
       paint: {"line-color": "#8aa07a", "line-width": 1, "line-dasharray": [3, 2]}},
    ],
  };
}

// A map in `element`, framed on the city's schools once known; resolves when its style loaded.
function makeAccountMap(element) {
  const made = new maplibregl.Map({
    container: element, style: accountBaseStyle(), center: [106.70, 10.78], zoom: 12,
    attributionControl: false,
  });
  made.addControl(new maplibregl.NavigationControl({showCompass: false}), "top-right");
  made.addControl(new maplibregl.AttributionControl({compact: true, customAttribution: OSM_CREDIT}));
  made.whenLoaded = new Promise((resolve) => made.on("load", resolve));
  return made;
}

// The bounds of every school with a position (the city's extent), from the public list.
let cityBoundsPromise = null;
function cityBounds() {
  if (!cityBoundsPromise) {
    cityBoundsPromise = getJson("/schools?limit=5000").then((data) => {
      const bounds = new maplibregl.LngLatBounds();
      data.features.filter((f) => f.geometry).forEach((f) => bounds.extend(f.geometry.coordinates));
      return {bounds, schools: data.features.filter((f) => f.geometry)};
    });
  }
  return cityBoundsPromise;
}
