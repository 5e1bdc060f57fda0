// A small city base map (our own vector tiles: wards, roads and their names) for the account pages.
"use strict";

// The service's one map style (wards, roads, street and ward names), as the public map has.
function accountBaseStyle() {
  return `${location.origin}/tiles/style.json`;
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
